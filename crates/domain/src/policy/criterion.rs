//! Criteria over technical parameters: a small expression language, parsed once, evaluated
//! exactly with integer arithmetic.
//!
//! ```text
//! criterion  := all ( "||" all )*
//! all        := unary ( "&&" unary )*
//! unary      := "!" unary | "(" criterion ")" | "datacenter" | comparison
//! comparison := sum ( ">=" | ">" | "<=" | "<" | "==" ) number
//! sum        := parameter ( "+" parameter )*
//! parameter  := tpp | die_area_mm2 | performance_density
//!             | memory_bandwidth_gbps | io_bandwidth_gbps
//! number     := digits [ "." digits ]
//! ```
//!
//! Example: `tpp >= 4800 || (tpp >= 1600 && performance_density >= 5.92)`.

use std::fmt;

use crate::product::TechnicalParameters;

/// A parameter a criterion can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameter {
    Tpp,
    DieArea,
    PerformanceDensity,
    MemoryBandwidth,
    IoBandwidth,
}

impl Parameter {
    pub const NAMES: [&'static str; 5] = [
        "tpp",
        "die_area_mm2",
        "performance_density",
        "memory_bandwidth_gbps",
        "io_bandwidth_gbps",
    ];

    fn parse(word: &str) -> Option<Self> {
        match word {
            "tpp" => Some(Self::Tpp),
            "die_area_mm2" => Some(Self::DieArea),
            "performance_density" => Some(Self::PerformanceDensity),
            "memory_bandwidth_gbps" => Some(Self::MemoryBandwidth),
            "io_bandwidth_gbps" => Some(Self::IoBandwidth),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Tpp => "tpp",
            Self::DieArea => "die_area_mm2",
            Self::PerformanceDensity => "performance_density",
            Self::MemoryBandwidth => "memory_bandwidth_gbps",
            Self::IoBandwidth => "io_bandwidth_gbps",
        }
    }

    /// The value as a fraction `(numerator, denominator)` with a positive denominator.
    fn value(self, p: &TechnicalParameters) -> (i128, i128) {
        match self {
            Self::Tpp => (p.total_processing_performance.into(), 1),
            Self::DieArea => (p.die_area_mm2.into(), 1),
            Self::PerformanceDensity => (
                p.total_processing_performance.into(),
                i128::from(p.die_area_mm2).max(1),
            ),
            Self::MemoryBandwidth => (p.memory_bandwidth_gbps.into(), 1),
            Self::IoBandwidth => (p.io_bandwidth_gbps.into(), 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Self::Ge => ">=",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Lt => "<",
            Self::Eq => "==",
        }
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Self::Ge => ordering != Less,
            Self::Gt => ordering == Greater,
            Self::Le => ordering != Greater,
            Self::Lt => ordering == Less,
            Self::Eq => ordering == Equal,
        }
    }
}

/// A decimal threshold `mantissa / 10^scale`, kept exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    mantissa: i128,
    scale: u32,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.mantissa);
        }
        let divisor = 10i128.pow(self.scale);
        write!(
            f,
            "{}.{:0width$}",
            self.mantissa / divisor,
            self.mantissa % divisor,
            width = self.scale as usize
        )
    }
}

/// A parsed criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Criterion {
    Compare {
        sum: Vec<Parameter>,
        comparison: Comparison,
        threshold: Threshold,
    },
    Datacenter,
    Not(Box<Criterion>),
    AllOf(Vec<Criterion>),
    AnyOf(Vec<Criterion>),
}

/// What a product offers the rules: its parameters and its datacenter flag (which criteria
/// test), and since when it is commercially available in the United States (which a rule's
/// conditions may test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub parameters: TechnicalParameters,
    pub datacenter: bool,
    pub us_available_since: Option<chrono::NaiveDate>,
}

/// The longest criterion accepted, in bytes: real rules are a few hundred.
pub const MAX_CRITERION_LENGTH: usize = 4_000;
/// The deepest nesting of parentheses and negations accepted; parsing, evaluating and printing
/// recurse once per level, so this bound keeps every one of them off the end of the stack.
pub const MAX_CRITERION_DEPTH: usize = 64;
/// The most parameters one comparison may add up (there are only five), which also keeps the
/// exact comparison inside `i128`.
pub const MAX_SUM_TERMS: usize = 8;

impl Criterion {
    /// Parses `text`; the error says what is wrong and where. Text longer than
    /// [`MAX_CRITERION_LENGTH`] or nested deeper than [`MAX_CRITERION_DEPTH`] is refused.
    pub fn parse(text: &str) -> Result<Criterion, String> {
        if text.len() > MAX_CRITERION_LENGTH {
            return Err(format!(
                "is {} bytes long; at most {MAX_CRITERION_LENGTH} are accepted",
                text.len()
            ));
        }
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err("is empty".into());
        }
        let mut parser = Parser {
            tokens,
            position: 0,
            depth: 0,
        };
        let criterion = parser.any_of()?;
        match parser.peek() {
            None => Ok(criterion),
            Some(t) => Err(format!("unexpected '{t}' at token {}", parser.position + 1)),
        }
    }

    /// Whether the item meets the criterion, computed exactly.
    pub fn holds(&self, item: &Item) -> bool {
        match self {
            Criterion::Compare {
                sum,
                comparison,
                threshold,
            } => {
                // Sums only mix integer parameters (checked at parse), so the denominator is
                // shared: either all 1, or a single density term.
                let (mut numerator, mut denominator) = (0i128, 1i128);
                for p in sum {
                    let (n, d) = p.value(&item.parameters);
                    numerator = numerator.saturating_add(n);
                    denominator = d;
                }
                // Bounded terms (MAX_SUM_TERMS of i64, 18 digits) keep these exact; saturation
                // is only a guard.
                let left = numerator.saturating_mul(10i128.saturating_pow(threshold.scale));
                let right = threshold.mantissa.saturating_mul(denominator);
                comparison.holds(left.cmp(&right))
            }
            Criterion::Datacenter => item.datacenter,
            Criterion::Not(inner) => !inner.holds(item),
            Criterion::AllOf(all) => all.iter().all(|c| c.holds(item)),
            Criterion::AnyOf(any) => any.iter().any(|c| c.holds(item)),
        }
    }

    /// The parts of the criterion the item met, for explaining a determination.
    pub fn explain(&self, item: &Item) -> String {
        match self {
            Criterion::AnyOf(any) => any
                .iter()
                .filter(|c| c.holds(item))
                .map(|c| c.explain(item))
                .collect::<Vec<_>>()
                .join(" || "),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Criterion::Compare {
                sum,
                comparison,
                threshold,
            } => {
                let names: Vec<&str> = sum.iter().map(|p| p.name()).collect();
                write!(
                    f,
                    "{} {} {}",
                    names.join(" + "),
                    comparison.symbol(),
                    threshold
                )
            }
            Criterion::Datacenter => f.write_str("datacenter"),
            Criterion::Not(inner) => write!(f, "!({inner})"),
            Criterion::AllOf(all) => {
                let parts: Vec<String> = all.iter().map(|c| wrap(c, true)).collect();
                f.write_str(&parts.join(" && "))
            }
            Criterion::AnyOf(any) => {
                let parts: Vec<String> = any.iter().map(|c| wrap(c, false)).collect();
                f.write_str(&parts.join(" || "))
            }
        }
    }
}

fn wrap(c: &Criterion, inside_all: bool) -> String {
    match c {
        Criterion::AnyOf(_) if inside_all => format!("({c})"),
        _ => c.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Number(String),
    Op(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) | Token::Number(w) => f.write_str(&crate::validation::quote(w)),
            Token::Op(o) => f.write_str(o),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    const OPS: [&str; 11] = ["&&", "||", ">=", "<=", "==", ">", "<", "(", ")", "+", "!"];
    let mut tokens = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Op(op));
            rest = &rest[op.len()..];
        } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            tokens.push(Token::Number(rest[..end].to_owned()));
            rest = &rest[end..];
        } else if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..end].to_owned()));
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            return Err(format!("unexpected character '{c}'"));
        }
        rest = rest.trim_start();
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    /// Open parentheses and negations around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.position).cloned();
        self.position += 1;
        t
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token::Op(o)) if *o == op) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn any_of(&mut self) -> Result<Criterion, String> {
        let mut parts = vec![self.all_of()?];
        while self.eat("||") {
            parts.push(self.all_of()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Criterion::AnyOf(parts)
        })
    }

    fn all_of(&mut self) -> Result<Criterion, String> {
        let mut parts = vec![self.unary()?];
        while self.eat("&&") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Criterion::AllOf(parts)
        })
    }

    /// Enters one level of nesting, refusing to go deeper than [`MAX_CRITERION_DEPTH`].
    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_CRITERION_DEPTH {
            return Err(format!(
                "is nested more than {MAX_CRITERION_DEPTH} levels deep"
            ));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Criterion, String> {
        if self.eat("!") {
            self.descend()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Criterion::Not(Box::new(inner)));
        }
        if self.eat("(") {
            self.descend()?;
            let inner = self.any_of()?;
            if !self.eat(")") {
                return Err("missing ')'".into());
            }
            self.depth -= 1;
            return Ok(inner);
        }
        if matches!(self.peek(), Some(Token::Word(w)) if w == "datacenter") {
            self.position += 1;
            return Ok(Criterion::Datacenter);
        }
        self.comparison()
    }

    fn parameter(&mut self) -> Result<Parameter, String> {
        match self.next() {
            Some(Token::Word(w)) => Parameter::parse(&w).ok_or_else(|| {
                format!(
                    "unknown parameter '{}' (known: {}, datacenter)",
                    crate::validation::quote(&w),
                    Parameter::NAMES.join(", ")
                )
            }),
            Some(other) => Err(format!("expected a parameter, found '{other}'")),
            None => Err("expected a parameter at the end".into()),
        }
    }

    fn comparison(&mut self) -> Result<Criterion, String> {
        let mut sum = vec![self.parameter()?];
        while self.eat("+") {
            sum.push(self.parameter()?);
            if sum.len() > MAX_SUM_TERMS {
                return Err(format!("adds more than {MAX_SUM_TERMS} parameters"));
            }
        }
        if sum.len() > 1 && sum.contains(&Parameter::PerformanceDensity) {
            return Err(
                "performance_density is a ratio and cannot be added to other parameters".into(),
            );
        }
        let comparison = match self.next() {
            Some(Token::Op(">=")) => Comparison::Ge,
            Some(Token::Op(">")) => Comparison::Gt,
            Some(Token::Op("<=")) => Comparison::Le,
            Some(Token::Op("<")) => Comparison::Lt,
            Some(Token::Op("==")) => Comparison::Eq,
            Some(other) => {
                return Err(format!(
                    "expected a comparison (>=, >, <=, <, ==), found '{other}'"
                ));
            }
            None => return Err("expected a comparison at the end".into()),
        };
        let threshold = match self.next() {
            Some(Token::Number(n)) => parse_threshold(&n)?,
            Some(other) => return Err(format!("expected a number, found '{other}'")),
            None => return Err("expected a number at the end".into()),
        };
        Ok(Criterion::Compare {
            sum,
            comparison,
            threshold,
        })
    }
}

fn parse_threshold(text: &str) -> Result<Threshold, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let valid = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
        && !(text.contains('.') && fraction.is_empty())
        && whole.len() + fraction.len() <= 18;
    if !valid {
        return Err(format!(
            "'{}' is not a number",
            crate::validation::quote(text)
        ));
    }
    let digits = format!("{whole}{fraction}");
    let mantissa = digits
        .parse::<i128>()
        .map_err(|_| format!("'{}' is not a number", crate::validation::quote(text)))?;
    Ok(Threshold {
        mantissa,
        scale: fraction.len() as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(tpp: i64, die: i64, memory: i64, io: i64, datacenter: bool) -> Item {
        Item {
            parameters: TechnicalParameters {
                total_processing_performance: tpp,
                die_area_mm2: die,
                memory_bandwidth_gbps: memory,
                io_bandwidth_gbps: io,
            },
            datacenter,
            us_available_since: None,
        }
    }

    #[test]
    fn density_thresholds_are_compared_exactly() {
        let c = Criterion::parse("performance_density >= 5.92").unwrap();
        // 592 / 100 exactly meets the threshold; one TPP less does not.
        assert!(c.holds(&item(592, 100, 0, 0, true)));
        assert!(!c.holds(&item(591, 100, 0, 0, true)));
    }

    #[test]
    fn sums_all_of_and_any_of_combine() {
        let c = Criterion::parse(
            "memory_bandwidth_gbps >= 1400 || io_bandwidth_gbps >= 1100 || memory_bandwidth_gbps + io_bandwidth_gbps >= 1700",
        )
        .unwrap();
        assert!(c.holds(&item(1000, 600, 1000, 800, true)));
        assert!(!c.holds(&item(1000, 600, 1000, 600, true)));
        let d = Criterion::parse("datacenter && (tpp >= 1600 && !(die_area_mm2 > 900))").unwrap();
        assert!(d.holds(&item(1600, 900, 0, 0, true)));
        assert!(!d.holds(&item(1600, 900, 0, 0, false)));
    }

    #[test]
    fn unknown_parameters_and_malformed_text_are_refused() {
        assert!(
            Criterion::parse("clock_ghz >= 2")
                .unwrap_err()
                .contains("unknown parameter")
        );
        for bad in [
            "",
            "tpp >=",
            "tpp 4800",
            "(tpp >= 1",
            "tpp >= 1 &&",
            "tpp >= 1.",
            "tpp >= 1 ||| tpp",
            "tpp >= x",
            "performance_density + tpp >= 3",
        ] {
            assert!(Criterion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_long_and_wide_criteria_are_refused_without_recursing() {
        let deep = format!("{}tpp >= 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Criterion::parse(&deep).unwrap_err().contains("bytes long"));
        let nested = format!("{}tpp >= 1{}", "(".repeat(65), ")".repeat(65));
        assert!(Criterion::parse(&nested).unwrap_err().contains("nested"));
        let negated = format!("{}tpp >= 1", "!".repeat(1_000));
        assert!(Criterion::parse(&negated).unwrap_err().contains("nested"));
        let ok = format!("{}tpp >= 1{}", "(".repeat(64), ")".repeat(64));
        assert!(Criterion::parse(&ok).is_ok());
        let huge = "tpp >= 1 || ".repeat(400);
        assert!(Criterion::parse(&huge).unwrap_err().contains("bytes long"));
        let wide = ["tpp"; 9].join(" + ") + " >= 1";
        assert!(Criterion::parse(&wide).unwrap_err().contains("more than"));
    }

    #[test]
    fn criteria_print_back_in_their_own_syntax() {
        let text = "tpp >= 4800 || datacenter && (tpp >= 1600 || performance_density >= 5.92)";
        let c = Criterion::parse(text).unwrap();
        assert_eq!(Criterion::parse(&c.to_string()).unwrap(), c);
        assert_eq!(c.to_string(), text);
    }

    #[test]
    fn explanations_name_the_branch_that_held() {
        let c =
            Criterion::parse("memory_bandwidth_gbps >= 1400 || io_bandwidth_gbps >= 1100").unwrap();
        assert_eq!(
            c.explain(&item(1, 1, 4000, 900, true)),
            "memory_bandwidth_gbps >= 1400"
        );
    }
}
