//! The architecture's nevers, read from every workspace crate's manifest: a dependency that
//! breaks one fails here, naming the crate, the dependency and the rule.

use std::collections::BTreeMap;
use std::path::Path;

fn manifest(dir: &Path) -> toml::Table {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .parse()
        .expect("a manifest")
}

/// Each crate's direct (non-dev) dependencies, by package name.
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = manifest(&root);
    let members = workspace["workspace"]["members"]
        .as_array()
        .expect("workspace members");
    let mut out = BTreeMap::new();
    for member in members {
        let manifest = manifest(&root.join(member.as_str().expect("a member path")));
        let name = manifest["package"]["name"]
            .as_str()
            .expect("a package name")
            .to_owned();
        let deps = manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        out.insert(name, deps);
    }
    out
}

/// Which crates may not depend on which, and why (ARCHITECTURE.md, Invariants).
const NEVERS: &[(&str, &[&str], &str)] = &[
    (
        "clearance-contract",
        &[
            "clearance-domain",
            "clearance-store",
            "clearance-proto",
            "tonic",
            "prost",
            "tokio",
            "sea-orm",
        ],
        "the contract holds no business rule and no I/O",
    ),
    (
        "clearance-domain",
        &[
            "tonic",
            "prost",
            "sea-orm",
            "tokio",
            "sqlx",
            "clearance-store",
            "clearance-proto",
            "clearance-grpc",
        ],
        "the domain performs no I/O and knows neither protobuf nor the database",
    ),
    (
        "clearance-store",
        &["tonic", "prost", "clearance-proto", "clearance-grpc"],
        "only the service crates, the gRPC layer and the clients know protobuf",
    ),
    (
        "clearance-cli",
        &["clearance-domain", "clearance-store", "sea-orm"],
        "clients never import the domain or the store",
    ),
    (
        "clearance-console",
        &["clearance-domain", "clearance-store", "sea-orm"],
        "clients never import the domain or the store",
    ),
];

/// Only these crates may list sea-orm.
const SEA_ORM_USERS: [&str; 2] = ["clearance-store", "clearance-migrations"];

#[test]
fn no_crate_depends_on_what_the_architecture_forbids() {
    let deps = dependencies();
    let mut broken = Vec::new();
    for (krate, forbidden, why) in NEVERS {
        let listed = deps
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not a workspace member"));
        for dep in listed.iter().filter(|d| forbidden.contains(&d.as_str())) {
            broken.push(format!("{krate} depends on {dep}: {why}"));
        }
    }
    for (krate, listed) in &deps {
        if listed.iter().any(|d| d.starts_with("sea-orm"))
            && !SEA_ORM_USERS.contains(&krate.as_str())
        {
            broken.push(format!(
                "{krate} depends on sea-orm: only the store knows it"
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The domain knows no gRPC method path: which roles may call which RPC is the gRPC layer's
/// table (`clearance_grpc::method_roles`), built on the domain's role rules.
#[test]
fn the_domain_names_no_grpc_method() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/domain/src");
    let mut pending = vec![src];
    let mut naming = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("the domain's sources") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read_to_string(&path)
                .is_ok_and(|text| text.contains("/clearance.v1."))
            {
                naming.push(path.display().to_string());
            }
        }
    }
    assert!(naming.is_empty(), "gRPC paths in the domain: {naming:?}");
}
