//! The audit log: edits, deletions and a rewritten log made behind the service's back after a
//! checkpoint are each named by `clearance verify`; proofs from the log verify with a verifier
//! written here from RFC 6962's definitions; replicas signing at once never sign two roots for
//! one size.

use std::sync::Arc;

use clearance_server::audit::{Signer, checkpoint_path};
use clearance_store::{Store, execute_statement};
use clearance_tests::{TestApp, TestDb, on_both_databases};
use sha2::{Digest, Sha256};

use crate::fixtures::{create_product, request_id, submit};
use crate::ledger::{erp, licensed, shipment, start};

on_both_databases!(
    tampering_after_a_checkpoint_is_named_by_verify,
    proofs_from_the_log_verify_with_an_independent_verifier,
    replicas_signing_at_once_never_sign_two_roots_for_one_size,
    the_api_serves_checkpoints_and_proofs_each_caller_may_see,
    a_rewritten_log_is_never_signed_even_when_its_size_matches,
    a_gap_in_the_log_is_one_problem,
);

/// A signer of this app's log writing checkpoints into `dir`.
fn signer(app: &TestApp, dir: &std::path::Path) -> Signer {
    let mut config = app.config.clone();
    config.audit.checkpoint_dir = dir.to_path_buf();
    Signer::from_config(&config)
        .expect("signer")
        .expect("development mode has a key")
}

async fn verify(app: &TestApp, signer: &Signer, dir: &std::path::Path) -> String {
    let report = clearance_server::audit::verify(
        &app.store,
        dir,
        &signer.verifier().expect("verifier"),
        &mut |_| {},
    )
    .await
    .expect("verify");
    assert!(report.checkpoints >= 1, "{report:?}");
    report.problems.join("\n")
}

async fn history(app: &TestApp, resource: &str) -> Vec<clearance_domain::history::HistoryEntry> {
    app.store.history(resource, None).await.expect("history")
}

async fn tampering_after_a_checkpoint_is_named_by_verify(db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 100).await;
    start(&mut erp(&app, "acme"), shipment(&product, 10, 100_000))
        .await
        .expect("ship");
    let mut acme = app.applicant("acme");
    let other_product = create_product(&mut acme).await;
    let other = acme
        .create_application(clearance_proto::v1::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(crate::fixtures::draft(&other_product.name)),
        })
        .await
        .expect("create")
        .into_inner();
    let other = submit(&mut acme, &other).await;

    let dir = tempfile::tempdir().expect("checkpoints");
    let signer = signer(&app, dir.path());
    let signed = signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect("checkpoint");
    assert!(signed.new && signed.size > 10, "{signed:?}");
    assert!(checkpoint_path(dir.path(), signed.size).exists());
    assert_eq!(
        verify(&app, &signer, dir.path()).await,
        "",
        "untouched data verifies"
    );

    // One entry's reason edited.
    let case = licence.application.clone();
    let entries = history(&app, &case).await;
    assert!(entries.len() >= 4, "{entries:?}");
    execute_statement(
        &db.url,
        &format!(
            "UPDATE history_entries SET reason = 'edited later' WHERE resource = '{case}' AND sequence = 2"
        ),
    )
    .await
    .expect("edit");
    let said = verify(&app, &signer, dir.path()).await;
    assert!(
        said.contains(&format!("{case}: history chain broken at entry 2")),
        "{said}"
    );
    // Put back, as it was.
    execute_statement(
        &db.url,
        &format!(
            "UPDATE history_entries SET reason = '{}' WHERE resource = '{case}' AND sequence = 2",
            entries[1].reason.replace('\'', "''")
        ),
    )
    .await
    .expect("restore");
    assert_eq!(verify(&app, &signer, dir.path()).await, "");

    // The last two entries of a case deleted.
    let last = entries.last().expect("entries").sequence;
    execute_statement(
        &db.url,
        &format!(
            "DELETE FROM history_entries WHERE resource = '{case}' AND sequence > {}",
            last - 2
        ),
    )
    .await
    .expect("delete");
    let said = verify(&app, &signer, dir.path()).await;
    for sequence in [last - 1, last] {
        assert!(
            said.contains(&format!("{case} entry {sequence} is in the audit log")),
            "{said}"
        );
    }
    assert!(
        said.contains("missing from its history: it was deleted"),
        "{said}"
    );

    // A whole resource's history deleted.
    execute_statement(
        &db.url,
        &format!(
            "DELETE FROM history_entries WHERE resource = '{}'",
            other.name
        ),
    )
    .await
    .expect("delete a resource's history");
    let said = verify(&app, &signer, dir.path()).await;
    assert!(
        said.contains(&format!("{} entry 1 is in the audit log", other.name)),
        "{said}"
    );
    assert!(
        said.contains(&format!("{} has no recorded history", other.name)),
        "{said}"
    );

    // A licence line's remaining balance changed directly (the only licence there is).
    let changed = execute_statement(
        &db.url,
        "UPDATE licence_lines SET remaining_quantity = remaining_quantity + 5",
    )
    .await
    .expect("edit a balance");
    assert_eq!(changed, 1);
    let said = verify(&app, &signer, dir.path()).await;
    assert!(
        said.contains(&format!("{} line 1: remaining quantity", licence.name)),
        "{said}"
    );

    // The log rewritten to match: the deleted entries' leaves removed and the tree recomputed
    // from what is left. The log agrees with the history again, but not with what was signed.
    for statement in [
        format!(
            "DELETE FROM log_leaves WHERE resource = '{case}' AND sequence > {}",
            last - 2
        ),
        format!("DELETE FROM log_leaves WHERE resource = '{}'", other.name),
        "UPDATE log_leaves SET log_index = NULL".to_owned(),
        "DELETE FROM log_subtrees".to_owned(),
    ] {
        execute_statement(&db.url, &statement)
            .await
            .expect("rewrite the log");
    }
    let said = verify(&app, &signer, dir.path()).await;
    assert!(
        said.contains(&format!(
            "the audit log's first {} entries do not hash to the root signed for them",
            signed.size
        )) || said.contains(&format!(
            "the checkpoint of size {} is larger than the audit log",
            signed.size
        )),
        "{said}"
    );
    assert!(
        !said.contains("missing from its history"),
        "the rewrite hid the deletions from the log: {said}"
    );
    assert!(
        !said.contains(&product),
        "untouched resources are not named: {said}"
    );
}

/// RFC 6962's MTH split: the largest power of two below n.
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn leaf(resource: &str, sequence: i64, entry_sha256: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(format!("{resource}\n{sequence}\n{entry_sha256}"));
    h.finalize().into()
}

/// The root an audit path leads to, by RFC 6962 §2.1.1's recursion read backwards (the last
/// hash of the path is the sibling at the top).
fn root_from_path(leaf: [u8; 32], m: u64, n: u64, path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if n == 1 {
        return path.is_empty().then_some(leaf);
    }
    let (sibling, below) = path.split_last()?;
    let k = split(n);
    Some(if m < k {
        node(&root_from_path(leaf, m, k, below)?, sibling)
    } else {
        node(sibling, &root_from_path(leaf, m - k, n - k, below)?)
    })
}

/// The old and new roots a consistency proof leads to, by RFC 6962 §2.1.2's SUBPROOF read
/// backwards; `old_root` stands for a subtree the proof leaves out because it is the old tree.
fn roots_from_consistency(
    m: u64,
    n: u64,
    complete: bool,
    proof: &[[u8; 32]],
    old_root: [u8; 32],
) -> Option<([u8; 32], [u8; 32])> {
    if m == n {
        return if complete {
            proof.is_empty().then_some((old_root, old_root))
        } else {
            let (only, rest) = proof.split_last()?;
            rest.is_empty().then_some((*only, *only))
        };
    }
    let (sibling, below) = proof.split_last()?;
    let k = split(n);
    if m <= k {
        let (old, new) = roots_from_consistency(m, k, complete, below, old_root)?;
        Some((old, node(&new, sibling)))
    } else {
        let (old, new) = roots_from_consistency(m - k, n - k, false, below, old_root)?;
        Some((node(sibling, &old), node(sibling, &new)))
    }
}

fn from_base64(text: &str) -> [u8; 32] {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

/// The size and root a signed note states (its second and third lines).
fn stated(note: &str) -> (u64, [u8; 32]) {
    let mut lines = note.lines().skip(1);
    let size = lines.next().expect("size").parse().expect("a number");
    (size, from_base64(lines.next().expect("root")))
}

async fn proofs_from_the_log_verify_with_an_independent_verifier(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    for _ in 0..5 {
        create_product(&mut acme).await;
    }
    let dir = tempfile::tempdir().expect("checkpoints");
    let signer = signer(&app, dir.path());
    let first = signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect("checkpoint");
    for _ in 0..11 {
        create_product(&mut acme).await;
    }
    let second = signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect("checkpoint");
    let (old_size, old_root) = stated(&first.note);
    let (new_size, new_root) = stated(&second.note);
    assert!(
        old_size >= 5 && new_size == old_size + 11,
        "{old_size} → {new_size}"
    );

    // Every entry of every product is in both trees.
    let products = acme
        .list_products(clearance_proto::v1::ListProductsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("products")
        .into_inner()
        .products;
    let mut checked = 0;
    for product in &products {
        for entry in history(&app, &product.name).await {
            let index = app
                .store
                .log_index_of(&entry.resource, entry.sequence)
                .await
                .expect("index")
                .expect("in the log");
            let hash = leaf(&entry.resource, entry.sequence, &entry.entry_sha256);
            for (size, root) in [(old_size, old_root), (new_size, new_root)] {
                if index >= size {
                    continue;
                }
                let path = app
                    .store
                    .log_inclusion_proof(index, size)
                    .await
                    .expect("inclusion proof");
                assert_eq!(
                    root_from_path(hash, index, size, &path),
                    Some(root),
                    "{index} in {size}"
                );
                // Another entry's hash does not lead there.
                let forged = leaf(&entry.resource, entry.sequence + 1, &entry.entry_sha256);
                assert_ne!(root_from_path(forged, index, size, &path), Some(root));
                checked += 1;
            }
        }
    }
    assert!(checked >= 16 + 5, "{checked}");

    // The first tree is a prefix of the second, and of every size between.
    let proof = app
        .store
        .log_consistency_proof(old_size, new_size)
        .await
        .expect("consistency proof");
    assert_eq!(
        roots_from_consistency(old_size, new_size, true, &proof, old_root),
        Some((old_root, new_root))
    );
    // A changed proof proves nothing.
    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i][0] ^= 1;
        assert_ne!(
            roots_from_consistency(old_size, new_size, true, &bad, old_root),
            Some((old_root, new_root)),
            "hash {i} changed"
        );
    }
}

async fn replicas_signing_at_once_never_sign_two_roots_for_one_size(db: &TestDb, app: TestApp) {
    let other_replica = Store::connect(&db.url, 4).await.expect("second store");
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let signers = Arc::new([signer(&app, dirs[0].path()), signer(&app, dirs[1].path())]);
    let stores = [app.store.clone(), other_replica];
    let mut acme = app.applicant("acme");
    let mut signed = std::collections::HashMap::new();
    for round in 0..12 {
        create_product(&mut acme).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(3));
        let mut tasks = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            let (store, signers, barrier) = (store.clone(), signers.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                signers[i].checkpoint(&store, chrono::Utc::now()).await
            }));
        }
        // A writer races the signers too.
        let writer = {
            let mut acme = acme.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                create_product(&mut acme).await;
            })
        };
        for task in tasks {
            let checkpoint = task.await.expect("task").expect("checkpoint");
            let root = *signed.entry(checkpoint.size).or_insert(checkpoint.root);
            assert_eq!(
                root, checkpoint.root,
                "round {round}: two roots for size {}",
                checkpoint.size
            );
        }
        writer.await.expect("writer");
    }
    let stored = app.store.checkpoints().await.expect("checkpoints");
    assert!(stored.len() >= 12, "{}", stored.len());
    for c in &stored {
        assert_eq!(signed.get(&c.size), Some(&c.root), "size {}", c.size);
    }
    // Both replicas' files say the same for every size both wrote.
    for c in &stored {
        let notes: Vec<String> = dirs
            .iter()
            .filter_map(|d| std::fs::read_to_string(checkpoint_path(d.path(), c.size)).ok())
            .collect();
        assert!(!notes.is_empty(), "size {} was written somewhere", c.size);
        assert!(notes.iter().all(|n| *n == c.note), "size {}", c.size);
    }
    assert_eq!(verify(&app, &signers[0], dirs[0].path()).await, "");
}

type AuditClient = clearance_proto::v1::audit_service_client::AuditServiceClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        clearance_tests::Bearer,
    >,
>;

fn audit_client(channel: &tonic::transport::Channel, token: String) -> AuditClient {
    clearance_proto::v1::audit_service_client::AuditServiceClient::with_interceptor(
        channel.clone(),
        clearance_tests::Bearer::new(Some(token)),
    )
}

fn hashes(proof: &[Vec<u8>]) -> Vec<[u8; 32]> {
    proof
        .iter()
        .map(|h| h.as_slice().try_into().expect("32 bytes"))
        .collect()
}

/// Through AuditService: a checkpoint whose note opens with the published key, inclusion
/// proofs that verify here, a consistency proof between two checkpoints; an exporter proves
/// its own visible entries only, and careless requests are refused in words.
async fn the_api_serves_checkpoints_and_proofs_each_caller_may_see(_db: &TestDb, app: TestApp) {
    use clearance_proto::v1 as pb;
    use tonic::Code;

    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let globex_product = create_product(&mut app.applicant("globex")).await;
    let application = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(crate::fixtures::draft(&product.name)),
        })
        .await
        .expect("create")
        .into_inner();
    let submitted = submit(&mut acme, &application).await;
    let mut reviewer = app.regulator("rita@regulator", &["reviewer"]);
    crate::fixtures::assign_to_self(&mut reviewer, &submitted).await;
    let dir = tempfile::tempdir().expect("checkpoints");
    let signer = signer(&app, dir.path());

    let mut exporter = audit_client(
        &app.application_channel,
        app.token(&["applicant"], Some("acme")),
    );
    let mut auditor = audit_client(&app.reviewer_channel, app.token(&["auditor"], None));
    let none_yet = exporter
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(none_yet.code(), Code::NotFound, "{none_yet:?}");

    signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect("checkpoint");
    let first = exporter
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await
        .expect("checkpoint")
        .into_inner();
    let verifier = signer.verifier().expect("verifier");
    let opened = clearance_domain::audit::Checkpoint::open(&first.note, &verifier).expect("signed");
    let (size, root) = stated(&first.note);
    assert_eq!((opened.size, opened.root), (size, root));
    assert_eq!(
        (first.tree_size as u64, first.root_hash.as_slice()),
        (size, &root[..])
    );

    // The exporter proves its product's creation and its submission.
    let history = history(&app, &submitted.name).await;
    let submitted_entry = history
        .iter()
        .find(|e| e.action == "application.submitted")
        .expect("submitted");
    for (resource, sequence) in [
        (&product.name, 1),
        (&submitted.name, submitted_entry.sequence),
    ] {
        let proof = exporter
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                resource: resource.clone(),
                sequence,
                tree_size: 0,
            })
            .await
            .expect("inclusion proof")
            .into_inner();
        assert_eq!(proof.tree_size as u64, size);
        let leaf = leaf(resource, sequence, &proof.entry_sha256);
        assert_eq!(
            root_from_path(leaf, proof.log_index as u64, size, &hashes(&proof.hashes)),
            Some(root),
            "{resource} {sequence}"
        );
    }
    // Not the assignment (deliberation), not another organisation's product: as if absent.
    let assigned = history
        .iter()
        .find(|e| e.action == "case.assigned")
        .expect("assigned");
    for (resource, sequence) in [
        (submitted.name.clone(), assigned.sequence),
        (globex_product.name.clone(), 1),
        (product.name.clone(), 99),
    ] {
        let refused = exporter
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                resource: resource.clone(),
                sequence,
                tree_size: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::NotFound,
            "{resource} {sequence}: {refused:?}"
        );
    }
    // The regulator proves the assignment.
    let proof = auditor
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            resource: submitted.name.clone(),
            sequence: assigned.sequence,
            tree_size: size as i64,
        })
        .await
        .expect("the regulator's proof")
        .into_inner();
    assert_eq!(proof.entry_sha256, assigned.entry_sha256);
    assert_eq!(
        root_from_path(
            leaf(&submitted.name, assigned.sequence, &assigned.entry_sha256),
            proof.log_index as u64,
            size,
            &hashes(&proof.hashes)
        ),
        Some(root)
    );

    // More history, a second checkpoint, and the first is a prefix of it.
    let later = create_product(&mut acme).await;
    let too_early = exporter
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            resource: later.name.clone(),
            sequence: 1,
            tree_size: size as i64,
        })
        .await
        .unwrap_err();
    assert_eq!(too_early.code(), Code::FailedPrecondition, "{too_early:?}");
    signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect("checkpoint");
    let second = auditor
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await
        .expect("checkpoint")
        .into_inner();
    let (new_size, new_root) = stated(&second.note);
    assert!(new_size > size);
    let proof = exporter
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            first_tree_size: size as i64,
            second_tree_size: 0,
        })
        .await
        .expect("consistency proof")
        .into_inner();
    assert_eq!(proof.second_tree_size as u64, new_size);
    assert_eq!(
        roots_from_consistency(size, new_size, true, &hashes(&proof.hashes), root),
        Some((root, new_root))
    );

    // Careless requests.
    for request in [
        pb::GetInclusionProofRequest {
            resource: String::new(),
            sequence: 1,
            tree_size: 0,
        },
        pb::GetInclusionProofRequest {
            resource: product.name.clone(),
            sequence: 0,
            tree_size: 0,
        },
        pb::GetInclusionProofRequest {
            resource: product.name.clone(),
            sequence: 1,
            tree_size: -1,
        },
        pb::GetInclusionProofRequest {
            resource: "x".repeat(100_000),
            sequence: i64::MAX,
            tree_size: i64::MIN,
        },
    ] {
        let refused = auditor.get_inclusion_proof(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    }
    let unsigned_size = auditor
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            resource: product.name.clone(),
            sequence: 1,
            tree_size: new_size as i64 + 7,
        })
        .await
        .unwrap_err();
    assert_eq!(unsigned_size.code(), Code::NotFound, "{unsigned_size:?}");
    for (first, second) in [(new_size as i64, size as i64), (1, i64::MAX), (-1, 1)] {
        let refused = auditor
            .get_consistency_proof(pb::GetConsistencyProofRequest {
                first_tree_size: first,
                second_tree_size: second,
            })
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{first} → {second}: {refused:?}"
        );
    }
}

/// A database administrator rewrites the end of the log so its size matches a signed
/// checkpoint (and deletes the stored checkpoints): the signer, which keeps its last signed
/// tree in its own files, signs nothing for that size or after it, says why and stays stopped
/// (a restarted signer too); the store serves no second root for the size.
async fn a_rewritten_log_is_never_signed_even_when_its_size_matches(db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    for _ in 0..5 {
        create_product(&mut acme).await;
    }
    let dir = tempfile::tempdir().expect("checkpoints");
    let honest = signer(&app, dir.path());
    let signed = honest
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect("checkpoint");
    assert!(signed.size >= 5);
    let zeros = "0".repeat(64);
    for statement in [
        format!(
            "UPDATE log_leaves SET entry_sha256 = '{zeros}' WHERE log_index = {}",
            signed.size - 1
        ),
        "UPDATE log_leaves SET log_index = NULL".to_owned(),
        "DELETE FROM log_subtrees".to_owned(),
        "DELETE FROM log_checkpoints".to_owned(),
    ] {
        execute_statement(&db.url, &statement)
            .await
            .expect("rewrite the log");
    }
    let refused = honest
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect_err("a forked log is not signed");
    assert!(format!("{refused:#}").contains("forked"), "{refused:#}");
    let evidence = honest.halted().expect("the signer stops");
    assert!(
        evidence.contains(&format!("size {}", signed.size)),
        "{evidence}"
    );
    assert!(
        app.store
            .checkpoints()
            .await
            .expect("checkpoints")
            .is_empty(),
        "no second root for the size"
    );
    // The log grows on; neither this signer nor one restarted from its files signs it.
    create_product(&mut acme).await;
    assert!(
        honest
            .checkpoint(&app.store, chrono::Utc::now())
            .await
            .is_err()
    );
    let restarted = signer(&app, dir.path());
    let refused = restarted
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect_err("still forked after a restart");
    assert!(format!("{refused:#}").contains("forked"), "{refused:#}");
    assert!(
        app.store
            .checkpoints()
            .await
            .expect("checkpoints")
            .is_empty()
    );
    // Only the honest checkpoint's file is there, whole.
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".checkpoint"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

/// An entry removed from the middle of the log is reported once, not once for every entry
/// after it.
async fn a_gap_in_the_log_is_one_problem(db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    for _ in 0..8 {
        create_product(&mut acme).await;
    }
    let dir = tempfile::tempdir().expect("checkpoints");
    let signer = signer(&app, dir.path());
    signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .expect("checkpoint");
    execute_statement(&db.url, "DELETE FROM log_leaves WHERE log_index IN (2, 3)")
        .await
        .expect("remove two entries from the log");
    let said = verify(&app, &signer, dir.path()).await;
    let gaps: Vec<&str> = said.lines().filter(|l| l.contains("no entr")).collect();
    assert_eq!(
        gaps,
        ["the audit log has no entries at indexes 2 to 3: entries were removed from it"],
        "{said}"
    );
}
