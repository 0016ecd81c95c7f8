//! What people type instead of resource names: application references (`CL-2026-000002`),
//! licence numbers (`CLL-2026-000001`), part numbers and ERP shipment references. Each is
//! looked up through the list methods' filters before the command runs; resource names pass
//! through unchanged.

use clearance_contract::references::APPLICATION_PREFIX;
use clearance_contract::references::LICENCE_PREFIX;
use clearance_contract::references::is_reference;
use clearance_proto::v1 as pb;

use crate::{
    Applications, Cases, Command, Ctx, Failure, History, Licences, LocalProblem, Products, Rules,
    Shipments,
};

/// The command with every reference it names replaced by the resource name it stands for.
pub async fn resolve(ctx: &Ctx, mut command: Command) -> Result<Command, Failure> {
    match &mut command {
        Command::Applications(
            Applications::Get { name }
            | Applications::Submit { name, .. }
            | Applications::Withdraw { name, .. },
        ) => *name = application(ctx, name).await?,
        // An application's reference when a question is named by its number.
        Command::Applications(Applications::Answer {
            name, rfi: Some(_), ..
        }) => *name = application(ctx, name).await?,
        Command::Cases(
            Cases::Show { name }
            | Cases::Assign { name, .. }
            | Cases::Ask { name, .. }
            | Cases::Note { name, .. }
            | Cases::Propose { name, .. }
            | Cases::Countersign { name, .. }
            | Cases::Reject { name, .. }
            | Cases::ReturnApplication { name, .. }
            | Cases::Refer { name, .. }
            | Cases::DecideAppeal { name, .. }
            | Cases::ResolveHit { name, .. },
        ) => *name = application(ctx, name).await?,
        Command::Documents(crate::documents::Documents::Download {
            application: name, ..
        }) => {
            *name = application(ctx, name).await?;
        }
        Command::Applications(Applications::Appeal { name, .. }) => {
            *name = application(ctx, name).await?;
        }
        Command::Licences(
            Licences::Show { name }
            | Licences::Suspend { name, .. }
            | Licences::Revoke { name, .. }
            | Licences::Reinstate { name, .. }
            | Licences::Surrender { name, .. }
            | Licences::Amend { name, .. },
        ) => *name = licence(ctx, name).await?,
        Command::Products(
            Products::Get { name }
            | Products::ReportUsShipments { name, .. }
            | Products::UsReports { name },
        ) => *name = product(ctx, name).await?,
        Command::Rules(Rules::Determine { product: name, .. }) => {
            *name = product(ctx, name).await?;
        }
        Command::Shipments(Shipments::Cancel { name, .. }) => *name = shipment(ctx, name).await?,
        Command::History(History::Show { resource } | History::Verify { resource, .. }) => {
            *resource = if is_reference(LICENCE_PREFIX, resource) {
                licence(ctx, resource).await?
            } else {
                application(ctx, resource).await?
            };
        }
        _ => {}
    }
    Ok(command)
}

/// An application read from a file, its lines' part numbers replaced by product names.
pub async fn application_file(
    ctx: &Ctx,
    mut application: pb::Application,
) -> Result<pb::Application, Failure> {
    for line in &mut application.lines {
        if !line.product.is_empty() {
            line.product = product(ctx, &line.product).await?;
        }
    }
    Ok(application)
}

/// A shipment read from a file, its part numbers and licence number replaced by names.
pub async fn shipment_file(ctx: &Ctx, mut shipment: pb::Shipment) -> Result<pb::Shipment, Failure> {
    for line in &mut shipment.lines {
        if !line.product.is_empty() {
            line.product = product(ctx, &line.product).await?;
        }
    }
    if !shipment.licence.is_empty() {
        shipment.licence = licence(ctx, &shipment.licence).await?;
    }
    Ok(shipment)
}

/// The first page of the licences the caller may see that match `filter`: an exporter's own
/// (application service), or every holder's for a regulator (reviewer service).
async fn visible_licences(
    ctx: &Ctx,
    filter: String,
    page_size: i32,
) -> Result<Vec<pb::Licence>, Failure> {
    Ok(if ctx.speaks_for_exporter() {
        ctx.applications()
            .await?
            .list_licences(pb::ListLicencesRequest {
                filter,
                page_size,
                ..Default::default()
            })
            .await?
            .into_inner()
            .licences
    } else {
        ctx.reviews()
            .await?
            .list_all_licences(pb::ListAllLicencesRequest {
                filter,
                page_size,
                ..Default::default()
            })
            .await?
            .into_inner()
            .licences
    })
}

/// Exactly one match, or a refusal that says what was looked for.
fn one(found: Vec<String>, what: &str, typed: &str) -> Result<String, Failure> {
    match found.as_slice() {
        [name] => Ok(name.clone()),
        [] => Err(Failure::Local(
            LocalProblem::NotFound(format!("no {what} {typed} that you can see")).into(),
        )),
        many => Err(Failure::Local(
            LocalProblem::Invalid(format!(
                "{} {what}s have {typed}: name one of them ({})",
                many.len(),
                many.join(", ")
            ))
            .into(),
        )),
    }
}

fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn application(ctx: &Ctx, typed: &str) -> Result<String, Failure> {
    if !is_reference(APPLICATION_PREFIX, typed) {
        return Ok(typed.to_owned());
    }
    let filter = format!("reference = {}", quoted(typed));
    let found: Vec<String> = if ctx.speaks_for_exporter() {
        ctx.applications()
            .await?
            .list_applications(pb::ListApplicationsRequest {
                filter,
                ..Default::default()
            })
            .await?
            .into_inner()
            .applications
            .into_iter()
            .map(|a| a.name)
            .collect()
    } else {
        ctx.reviews()
            .await?
            .list_cases(pb::ListCasesRequest {
                filter,
                ..Default::default()
            })
            .await?
            .into_inner()
            .cases
            .into_iter()
            .filter_map(|c| c.application.map(|a| a.name))
            .collect()
    };
    one(found, "application with reference", typed)
}

async fn licence(ctx: &Ctx, typed: &str) -> Result<String, Failure> {
    if !is_reference(LICENCE_PREFIX, typed) {
        return Ok(typed.to_owned());
    }
    let found = visible_licences(ctx, format!("number = {}", quoted(typed)), 0).await?;
    one(
        found.into_iter().map(|l| l.name).collect(),
        "licence numbered",
        typed,
    )
}

/// A part number of the caller's catalogue (anything that is not `products/…`).
async fn product(ctx: &Ctx, typed: &str) -> Result<String, Failure> {
    if typed.starts_with("products/") {
        return Ok(typed.to_owned());
    }
    let found = ctx
        .applications()
        .await?
        .list_products(pb::ListProductsRequest {
            filter: format!("part_number = {}", quoted(typed)),
            ..Default::default()
        })
        .await?
        .into_inner()
        .products;
    one(
        found.into_iter().map(|p| p.name).collect(),
        "product with part number",
        typed,
    )
}

/// An ERP reference of the caller's shipments (anything that is not `shipments/…`).
async fn shipment(ctx: &Ctx, typed: &str) -> Result<String, Failure> {
    if typed.starts_with("shipments/") {
        return Ok(typed.to_owned());
    }
    let found = ctx
        .shipments()
        .await?
        .list_shipments(pb::ListShipmentsRequest {
            filter: format!("erp_reference = {}", quoted(typed)),
            ..Default::default()
        })
        .await?
        .into_inner()
        .shipments;
    one(
        found.into_iter().map(|s| s.name).collect(),
        "shipment with ERP reference",
        typed,
    )
}

/// Resource names paired with what people call them: licences by number, and for exporters
/// their products by part number (regulators have no catalogue to read).
pub async fn known_names(ctx: &Ctx) -> Result<Vec<(String, String)>, Failure> {
    let mut known = Vec::new();
    if ctx.speaks_for_exporter() {
        for p in ctx
            .applications()
            .await?
            .list_products(pb::ListProductsRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await?
            .into_inner()
            .products
        {
            known.push((p.name, format!("part {}", p.part_number)));
        }
    }
    let licences = visible_licences(ctx, String::new(), 1000).await?;
    known.extend(
        licences
            .into_iter()
            .map(|l| (l.name, format!("licence {}", l.number))),
    );
    Ok(known)
}

/// `text` with every resource name in `known` replaced by what people call it.
pub fn humanise(text: String, known: &[(String, String)]) -> String {
    known
        .iter()
        .fold(text, |t, (name, human)| t.replace(name.as_str(), human))
}
