//! The codec of every generated service: prost, except that a message that cannot be decoded
//! is the sender's fault (INVALID_ARGUMENT), not the server's (tonic-prost says INTERNAL).

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// prost encoding with undecodable input reported as INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct ContractCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for ContractCodec<T, U> {
    fn default() -> Self {
        ContractCodec(ProstCodec::default())
    }
}

impl<T, U> Codec for ContractCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ContractDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ContractDecoder(self.0.decoder())
    }
}

/// See [`ContractCodec`].
#[derive(Debug, Clone)]
pub struct ContractDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for ContractDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            // prost's message names the field and the wire problem, never the bytes.
            Status::invalid_argument(format!(
                "the message could not be decoded as {}: {}",
                std::any::type_name::<U>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("the expected type"),
                status.message()
            ))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
