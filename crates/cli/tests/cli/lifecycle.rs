//! The whole lifecycle through the `clearancectl` binary itself, against in-process services,
//! on SQLite and PostgreSQL: JSON output at each step, exit codes for a refusal and bad input.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use crate::support;

use clearance_tests::{TestApp, TestDb, on_both_databases};
use serde_json::Value;

struct Ctl<'a> {
    app: &'a TestApp,
    home: &'a Path,
}

impl Ctl<'_> {
    /// clearancectl against the test's services, as `token`'s holder.
    fn command(&self, token: &str, args: &[&str]) -> Command {
        let mut command = support::clearancectl(self.app, self.home);
        command.args(args).env("CLEARANCE_TOKEN", token);
        command
    }

    /// Starts clearancectl as `token`'s holder, in JSON mode.
    fn spawn(&self, token: &str, args: &[&str]) -> std::process::Child {
        let json: Vec<&str> = ["--output", "json"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        self.command(token, &json)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("clearancectl runs")
    }

    /// Runs clearancectl as `token`'s holder in text mode: (exit code, stdout, stderr).
    fn text(&self, token: &str, args: &[&str]) -> (i32, String, String) {
        let output = self
            .command(token, args)
            .output()
            .expect("clearancectl runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs clearancectl as `token`'s holder; returns (exit code, stdout JSON or stderr JSON).
    fn run(&self, token: &str, args: &[&str]) -> (i32, Value) {
        Ctl::finish(self.spawn(token, args))
    }

    /// Waits for a started clearancectl: (exit code, stdout JSON or stderr JSON).
    fn finish(child: std::process::Child) -> (i32, Value) {
        let output = child.wait_with_output().expect("clearancectl runs");
        let code = output.status.code().unwrap_or(-1);
        let text = if code == 0 {
            output.stdout
        } else {
            output.stderr
        };
        let json = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&text)));
        (code, json)
    }

    fn ok(&self, token: &str, args: &[&str]) -> Value {
        let (code, json) = self.run(token, args);
        assert_eq!(code, 0, "{args:?} failed: {json}");
        json
    }
}

/// Text with what differs from run to run (ids, dates, times, the year in references, the
/// local ports) replaced, so a snapshot holds what a person reads and nothing else.
fn redact(text: &str) -> String {
    let rules = [
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[id]",
        ),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[time]"),
        (r"\d{4}-\d{2}-\d{2}", "[date]"),
        (r"\b(CLL?)-\d{4}-", "$1-[year]-"),
        (r"127\.0\.0\.1:\d+", "[address]"),
    ];
    rules.iter().fold(text.to_owned(), |t, (pattern, with)| {
        regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&t, *with)
            .into_owned()
    })
}

fn write(dir: &Path, name: &str, json: Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).unwrap();
    path.display().to_string()
}

async fn a_whole_lifecycle_through_the_command_line(_db: &TestDb, app: TestApp) {
    let home = tempfile::tempdir().unwrap();
    let ctl = Ctl {
        app: &app,
        home: home.path(),
    };
    let officer = app.token_for("olivia@acme", &["applicant"], Some("acme"));
    let erp = app.token_for("sap@acme", &["erp"], Some("acme"));
    let alice = app.token_for("alice@regulator", &["reviewer"], None);
    let bob = app.token_for("bob@regulator", &["senior_reviewer"], None);
    let auditor = app.token_for("audrey@regulator", &["auditor"], None);
    let paula = app.token_for("paula@regulator", &["policy_admin"], None);
    let dir = home.path();

    let product_file = write(
        dir,
        "product.json",
        serde_json::json!({
            "display_name": "H20-class accelerator", "part_number": "H20-SXM", "classification": "3A090.a",
            "datacenter": true,
            "parameters": {"total_processing_performance": 2368, "die_area_mm2": 814,
                           "memory_bandwidth_gbps": 4000, "io_bandwidth_gbps": 900}
        }),
    );
    let product = ctl.ok(&officer, &["products", "create", "--file", &product_file]);
    // The part number names the product.
    let determined = ctl.ok(
        &officer,
        &[
            "rules",
            "determine",
            "H20-SXM",
            "--destination",
            "CN",
            "--headquarters",
            "CN",
        ],
    );
    assert_eq!(determined["licence_required"], true, "{determined}");
    assert_eq!(
        ctl.ok(&officer, &["products", "get", "H20-SXM"])["name"],
        product["name"]
    );

    let bad_file = write(
        dir,
        "bad.json",
        serde_json::json!({"display_name": "", "classification": "3A090.a"}),
    );
    let (code, error) = ctl.run(&officer, &["products", "create", "--file", &bad_file]);
    assert_eq!(code, 2, "invalid input: {error}");
    assert_eq!(error["error"]["reason"], "INVALID_ARGUMENT");
    assert!(
        error["error"]["field_violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["field"] == "product.display_name")
    );

    let application_file = write(
        dir,
        "application.json",
        serde_json::json!({
            "destination_country_code": "CN",
            "end_use_statement": "Inference serving",
            "parties": [{"role": "PARTY_ROLE_END_USER", "display_name": "Example Cloud Ltd", "address": "1 Example Road",
                         "country_code": "CN", "headquarters_country_code": "CN"}],
            // Files name parts by part number too.
            "lines": [{"product": "H20-SXM", "quantity": 100, "unit_value": {"currency_code": "USD", "minor_units": 10000}}]
        }),
    );
    let draft = ctl.ok(
        &officer,
        &["applications", "create", "--file", &application_file],
    );
    // From here on the application is named by its reference, as people name it.
    let name = draft["reference"].as_str().unwrap().to_owned();
    assert!(name.starts_with("CL-"), "{draft}");
    let submitted = ctl.ok(
        &officer,
        &["applications", "submit", &name, "--confirm-declaration"],
    );
    assert_eq!(submitted["state"], "APPLICATION_STATE_SUBMITTED");
    assert_eq!(
        submitted["lines"][0]["determination"]["licence_required"],
        true
    );

    let queue = ctl.ok(&alice, &["cases", "list"]);
    assert_eq!(queue.as_array().unwrap().len(), 1);
    // As a caseworker reads it: a table with the facts of each case.
    let (_, table, _) = ctl.text(&alice, &["cases", "list"]);
    insta::assert_snapshot!("cases_list", redact(&table));
    let mut rows = table.lines();
    let header = rows.next().unwrap();
    for column in [
        "REFERENCE",
        "APPLICANT",
        "TO",
        "GOODS",
        "VALUE",
        "STATE",
        "ASSIGNEE",
        "DUE",
    ] {
        assert!(header.contains(column), "{table}");
    }
    let row = rows.next().unwrap();
    for fact in [
        name.as_str(),
        "acme",
        "CN",
        "1 line, 100 units",
        "USD 10,000.00",
        "SUBMITTED",
    ] {
        assert!(row.contains(fact), "{fact} missing: {table}");
    }
    let (_, none, _) = ctl.text(&alice, &["cases", "list", "--filter", "state = DENIED"]);
    assert_eq!(none.trim(), "no cases match");
    let assigned = ctl.ok(&alice, &["cases", "assign", &name]);
    assert_eq!(assigned["assignee"], "alice@regulator");
    ctl.ok(
        &alice,
        &["cases", "ask", &name, "--question", "Which data centre?"],
    );
    let (_, asked, _) = ctl.text(&officer, &["applications", "get", &name]);
    assert!(asked.contains("RFI 1 open: Which data centre?"), "{asked}");
    let (code, error) = ctl.run(
        &officer,
        &["applications", "answer", &name, "--rfi", "2", "--text", "?"],
    );
    assert_eq!(code, 3, "there is no RFI 2: {error}");
    let answered = ctl.ok(
        &officer,
        &[
            "applications",
            "answer",
            &name,
            "--rfi",
            "1",
            "--text",
            "DC-3, Shenzhen",
        ],
    );
    assert_eq!(answered["state"], "APPLICATION_STATE_UNDER_REVIEW");
    let noted = ctl.ok(
        &alice,
        &["cases", "note", &name, "--text", "End user checked"],
    );
    let seen = noted["etag"].as_str().unwrap().to_owned();
    let propose = [
        "cases", "propose", &name, "--grant", "80", "--reason", "verified",
    ];
    // A decision names the version it was made on.
    let (code, error) = ctl.run(&alice, &propose);
    assert_eq!(code, 2, "no etag: {error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cases show"),
        "{error}"
    );
    // Two caseworkers propose on the same version at once: one wins, the other is told the
    // case changed.
    let with_etag: Vec<&str> = propose.iter().copied().chain(["--etag", &seen]).collect();
    let racing: Vec<_> = (0..2).map(|_| ctl.spawn(&alice, &with_etag)).collect();
    let mut outcomes: Vec<(i32, Value)> = racing.into_iter().map(Ctl::finish).collect();
    outcomes.sort_by_key(|(code, _)| *code);
    assert_eq!(outcomes[0].0, 0, "one proposal lands: {:?}", outcomes[0].1);
    assert_eq!(
        outcomes[1].0, 4,
        "the other is refused: {:?}",
        outcomes[1].1
    );
    let refusal = &outcomes[1].1["error"];
    assert!(
        refusal["message"].as_str().unwrap().contains("changed"),
        "{refusal}"
    );
    let proposed = outcomes.remove(0).1;
    assert_eq!(
        proposed["application"]["state"],
        "APPLICATION_STATE_PENDING_COUNTERSIGN"
    );
    let (code, refused) = ctl.run(&alice, &["cases", "countersign", &name, "--latest"]);
    assert_eq!(code, 4, "a reviewer may not countersign: {refused}");
    let approved = ctl.ok(
        &bob,
        &[
            "cases",
            "countersign",
            &name,
            "--etag",
            proposed["etag"].as_str().unwrap(),
        ],
    );
    assert_eq!(
        approved["application"]["state"],
        "APPLICATION_STATE_APPROVED"
    );
    // The case on one screen: every fact a caseworker needs.
    let (code, shown, stderr) = ctl.text(&bob, &["cases", "show", &name]);
    insta::assert_snapshot!("cases_show", redact(&shown));
    let (_, json) = ctl.run(&bob, &["cases", "show", &name]);
    insta::assert_snapshot!(
        "cases_show_json",
        redact(&serde_json::to_string_pretty(&json).unwrap())
    );
    assert_eq!(code, 0, "{stderr}");
    for fact in [
        "APPROVED",
        "end use: Inference serving",
        "END_USER  Example Cloud Ltd",
        "determination: licence required",
        "RFI 1",
        "answered",
        "DC-3, Shenzhen",
        "(regulator only): End user checked",
        "proposed approval: COUNTERSIGNED by bob@regulator",
        "granted: [0] 80 units",
        "licence issued: CLL-",
    ] {
        assert!(shown.contains(fact), "{fact} missing:\n{shown}");
    }

    let licences = ctl.ok(&officer, &["licences", "list"]);
    let licence = licences[0]["name"].as_str().unwrap().to_owned();
    let number = licences[0]["number"].as_str().unwrap().to_owned();
    let shown = ctl.ok(&officer, &["licences", "show", &number]);
    assert_eq!(shown["name"], licence.as_str());
    assert_eq!(licences[0]["lines"][0]["granted_quantity"], "80");

    let shipment = |quantity: i64| {
        serde_json::json!({
            "destination_country_code": "CN",
            "end_user": {"display_name": "Example Cloud Ltd", "country_code": "CN", "headquarters_country_code": "CN"},
            "lines": [{"product": "H20-SXM", "quantity": quantity, "value": {"currency_code": "USD", "minor_units": quantity * 10000}}]
        })
    };
    let fits = write(dir, "fits.json", shipment(60));
    let check = ctl.ok(&erp, &["shipments", "check", "--file", &fits]);
    assert_eq!(check["covering_licences"][0], licence.as_str());
    let started = ctl.ok(&erp, &["shipments", "start", "--file", &fits]);
    assert_eq!(started["licence"], licence.as_str());
    let too_many = write(dir, "too-many.json", shipment(30));
    let (code, error) = ctl.run(&erp, &["shipments", "start", "--file", &too_many]);
    assert_eq!(code, 4, "refused: {error}");
    assert_eq!(error["error"]["reason"], "QUANTITY_EXCEEDED");

    // shipments check gives one of three answers, in words and by exit code.
    let (code, again, _) = ctl.text(&erp, &["shipments", "check", "--file", &fits]);
    assert_eq!(code, 4, "60 more do not fit in the 20 left: {again}");
    let (code, blocked, _) = ctl.text(&erp, &["shipments", "check", "--file", &too_many]);
    insta::assert_snapshot!("shipments_check_blocked", redact(&blocked));
    assert_eq!(code, 4, "{blocked}");
    assert!(blocked.starts_with("BLOCKED"), "{blocked}");
    assert!(blocked.contains("QUANTITY_EXCEEDED"), "{blocked}");
    let small = write(dir, "small.json", shipment(5));
    let (code, covered, _) = ctl.text(&erp, &["shipments", "check", "--file", &small]);
    insta::assert_snapshot!("shipments_check_covered", redact(&covered));
    assert_eq!(code, 0, "{covered}");
    assert!(covered.starts_with("COVERED by licence CLL-"), "{covered}");
    assert!(
        covered.contains("after this shipment: 15 of 80 units, USD 1,500.00 remaining"),
        "{covered}"
    );
    let mut elsewhere = shipment(5);
    elsewhere["destination_country_code"] = "GB".into();
    elsewhere["end_user"]["country_code"] = "GB".into();
    elsewhere["end_user"]["headquarters_country_code"] = "GB".into();
    let elsewhere = write(dir, "elsewhere.json", elsewhere);
    let (code, free, _) = ctl.text(&erp, &["shipments", "check", "--file", &elsewhere]);
    insta::assert_snapshot!("shipments_check_no_licence_required", redact(&free));
    assert_eq!(code, 0, "{free}");
    assert!(free.starts_with("NO LICENCE REQUIRED"), "{free}");
    let (code, error) = ctl.run(&officer, &["licences", "show", "CLL-1999-000001"]);
    assert_eq!(code, 3, "not found: {error}");

    // rules impact: a draft that takes the H20-class rule back to a presumption of denial,
    // shown before → after for each licence and application it touches.
    let rule_sets = ctl.ok(&paula, &["rules", "list"]);
    let mut draft = rule_sets
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"] == "us-advanced-computing")
        .max_by_key(|r| r["version"].as_str().unwrap().parse::<i64>().unwrap())
        .unwrap()
        .clone();
    for rule in draft["rules"].as_array_mut().unwrap() {
        if rule["rule_id"] == "h20-class-china-d5" {
            rule["review_policy"] = "REVIEW_POLICY_PRESUMPTION_OF_DENIAL".into();
        }
    }
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    draft["effective_time"] = tomorrow
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .into();
    let draft_file = write(dir, "draft.json", draft);
    let (code, impact, stderr) = ctl.text(&paula, &["rules", "impact", "--file", &draft_file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        impact.contains("(acme): review policy: case by case → presumption of denial"),
        "{impact}"
    );
    insta::assert_snapshot!("rules_impact", redact(&impact));

    // A regulator's profile lists, shows and suspends the licence with only what the list
    // printed (text, as a person reads it).
    let running = app.running.as_ref().unwrap();
    let config_dir = home.path().join("clearance");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(home.path().join("bob.token"), &bob).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "[profiles.regulator]\napplication_endpoint = \"http://{}\"\nreviewer_endpoint = \"http://{}\"\ntoken_file = \"{}\"\n",
            running.application_addr.unwrap(),
            running.reviewer_addr.unwrap(),
            home.path().join("bob.token").display()
        ),
    )
    .unwrap();
    let as_regulator = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_clearancectl"))
            .args(["--profile", "regulator"])
            .args(args)
            .env("XDG_CONFIG_HOME", home.path())
            .env_remove("CLEARANCE_TOKEN")
            .env_remove("CLEARANCE_ENDPOINT")
            .env_remove("CLEARANCE_REVIEWER_ENDPOINT")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let listed = as_regulator(&["licences", "list", "--filter", "organisation = acme"]);
    let mut rows = listed.lines();
    let header: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(header[0], "NUMBER", "{listed}");
    assert_eq!(header.last(), Some(&"ETAG"), "{listed}");
    let row: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    let (listed_number, etag) = (row[0], *row.last().unwrap());
    assert_eq!(listed_number, number);
    assert_eq!(row[1], "acme", "the holder: {listed}");
    let shown = as_regulator(&["licences", "show", listed_number]);
    insta::assert_snapshot!("licences_show_as_regulator", redact(&shown));
    assert!(shown.starts_with(&licence), "{shown}");
    let suspended = as_regulator(&[
        "licences",
        "suspend",
        listed_number,
        "--reason",
        "end user under investigation",
        "--etag",
        etag,
    ]);
    assert!(suspended.contains("SUSPENDED"), "{suspended}");
    // The ERP now learns that its licence is suspended, not merely that one is required.
    let (code, blocked, _) = ctl.text(&erp, &["shipments", "check", "--file", &small]);
    assert_eq!(code, 4, "{blocked}");
    assert!(blocked.contains("the licence is SUSPENDED"), "{blocked}");

    // events watch follows the stream; read the first few events and stop it.
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_clearancectl"))
        .args(["--output", "json", "--application-endpoint"])
        .arg(format!("http://{}", running.application_addr.unwrap()))
        .args(["events", "watch"])
        .env("CLEARANCE_TOKEN", &officer)
        .env("XDG_CONFIG_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let first: Vec<Value> = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .take(3)
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    assert_eq!(first[0]["type"], "product.created");
    assert_eq!(first[1]["type"], "application.created");
    assert_eq!(first[2]["type"], "application.submitted");

    // The US figure the January 2026 aggregate cap is measured against, by part number.
    for units in ["800", "1000"] {
        ctl.ok(
            &officer,
            &[
                "products",
                "report-us-shipments",
                "H20-SXM",
                "--units",
                units,
            ],
        );
    }
    let reports = ctl.ok(&officer, &["products", "us-reports", "H20-SXM"]);
    assert_eq!(reports["reports"][0]["units_shipped"], "1000", "{reports}");
    assert_eq!(reports["reports"].as_array().map(Vec::len), Some(2));

    // The applicant reads the same record as it may see it: no deliberation, no staff names.
    let own = ctl.ok(&officer, &["history", "show", &name]);
    let own_actions: Vec<&str> = own["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(!own_actions.contains(&"case.assigned"), "{own_actions:?}");
    assert!(
        own_actions.contains(&"case.decision_countersigned"),
        "{own_actions:?}"
    );
    let history = ctl.ok(&auditor, &["history", "show", &name]);
    assert_eq!(history["entries"].as_array().unwrap().len(), 8);
    let verified = ctl.ok(&auditor, &["history", "verify", &name]);
    assert_eq!(verified["intact"], true);
}

/// Referral and advice, a justified departure, an amendment and an appeal, each through
/// `clearancectl` as the person who does it would type it.
async fn referral_amendment_and_appeal_through_the_command_line(_db: &TestDb, app: TestApp) {
    let home = tempfile::tempdir().unwrap();
    let ctl = Ctl {
        app: &app,
        home: home.path(),
    };
    let officer = app.token_for("olivia@acme", &["applicant"], Some("acme"));
    let erp = app.token_for("sap@acme", &["erp"], Some("acme"));
    let alice = app.token_for("alice@regulator", &["reviewer"], None);
    let bob = app.token_for("bob@regulator", &["senior_reviewer"], None);
    let carol = app.token_for("carol@regulator", &["senior_reviewer"], None);
    let dora = app.token_for("dora@defense", &["adviser"], Some("defense"));
    let dir = home.path();
    write(
        dir,
        "product.json",
        serde_json::json!({
            "display_name": "H20-class accelerator", "part_number": "H20-SXM", "classification": "3A090.a",
            "datacenter": true,
            "parameters": {"total_processing_performance": 2368, "die_area_mm2": 814,
                           "memory_bandwidth_gbps": 4000, "io_bandwidth_gbps": 900}
        }),
    );
    ctl.ok(
        &officer,
        &[
            "products",
            "create",
            "--file",
            &dir.join("product.json").display().to_string(),
        ],
    );
    let application_file = write(
        dir,
        "application.json",
        serde_json::json!({
            "destination_country_code": "CN",
            "end_use_statement": "Inference serving",
            "parties": [{"role": "PARTY_ROLE_END_USER", "display_name": "Example Cloud Ltd", "address": "1 Example Road",
                         "country_code": "CN", "headquarters_country_code": "CN"}],
            "lines": [{"product": "H20-SXM", "quantity": 800, "unit_value": {"currency_code": "USD", "minor_units": 10000}}]
        }),
    );
    let file = |officer: &str| {
        let draft = ctl.ok(
            officer,
            &["applications", "create", "--file", &application_file],
        );
        let reference = draft["reference"].as_str().unwrap().to_owned();
        ctl.ok(
            officer,
            &[
                "applications",
                "submit",
                &reference,
                "--confirm-declaration",
            ],
        );
        ctl.ok(&alice, &["cases", "assign", &reference]);
        reference
    };

    // Referral: the case waits for the agency, which advises through its own command.
    let name = file(&officer);
    let referred = ctl.ok(&alice, &["cases", "refer", &name, "--agency", "defense"]);
    assert_eq!(referred["referrals"][0]["agency"], "defense");
    let (code, waiting) = ctl.run(
        &alice,
        &[
            "cases", "propose", &name, "--reason", "verified", "--latest",
        ],
    );
    assert_eq!(code, 4, "{waiting}");
    assert_eq!(waiting["error"]["reason"], "ADVICE_OUTSTANDING");
    let (_, worklist, _) = ctl.text(&dora, &["referrals", "list"]);
    assert!(
        worklist.contains(&name) && worklist.contains("outstanding"),
        "{worklist}"
    );
    let referral = ctl.ok(&dora, &["referrals", "list"])[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, bad, _) = ctl.text(
        &dora,
        &["referrals", "advise", &referral, "--advice", "1:perhaps"],
    );
    assert_eq!(code, 2, "a kind that does not exist: {bad}");
    let advised = ctl.ok(
        &dora,
        &[
            "referrals",
            "advise",
            &referral,
            "--advice",
            "1:refuse:end user linked to a listed entity",
        ],
    );
    assert_eq!(advised["advice"][0]["kind"], "ADVICE_KIND_REFUSE");
    let (code, unjustified) = ctl.run(
        &alice,
        &[
            "cases", "propose", &name, "--reason", "verified", "--latest",
        ],
    );
    assert_eq!(code, 2, "a departure needs a justification: {unjustified}");
    ctl.ok(
        &alice,
        &[
            "cases",
            "propose",
            &name,
            "--reason",
            "verified",
            "--justification",
            "the entity was delisted",
            "--latest",
        ],
    );
    let (_, shown, _) = ctl.text(&bob, &["cases", "show", &name]);
    for fact in [
        "referrals:",
        "defense  lines 1",
        "line 1: REFUSE: end user linked to a listed entity",
        "departs from an agency's refusal because: the entity was delisted",
    ] {
        assert!(shown.contains(fact), "{fact} missing:\n{shown}");
    }
    ctl.ok(&bob, &["cases", "countersign", &name, "--latest"]);

    // Amendment: 800 → 1,200 after 500 shipped.
    let number = ctl.ok(&officer, &["licences", "list"])[0]["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let shipment = write(
        dir,
        "shipment.json",
        serde_json::json!({
            "destination_country_code": "CN",
            "end_user": {"display_name": "Example Cloud Ltd", "country_code": "CN", "headquarters_country_code": "CN"},
            "lines": [{"product": "H20-SXM", "quantity": 500, "value": {"currency_code": "USD", "minor_units": 5_000_000}}]
        }),
    );
    ctl.ok(&erp, &["shipments", "start", "--file", &shipment]);
    let (code, _, stderr) = ctl.text(
        &officer,
        &[
            "licences",
            "amend",
            &number,
            "--line",
            "one=1200",
            "--reasons",
            "x",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    let draft = ctl.ok(
        &officer,
        &[
            "licences",
            "amend",
            &number,
            "--line",
            "1=1200",
            "--reasons",
            "a second data hall",
        ],
    );
    let amendment = draft["reference"].as_str().unwrap().to_owned();
    ctl.ok(
        &officer,
        &[
            "applications",
            "submit",
            &amendment,
            "--confirm-declaration",
        ],
    );
    ctl.ok(&alice, &["cases", "assign", &amendment]);
    ctl.ok(
        &alice,
        &[
            "cases",
            "propose",
            &amendment,
            "--reason",
            "same site",
            "--latest",
        ],
    );
    ctl.ok(&bob, &["cases", "countersign", &amendment, "--latest"]);
    let (_, licence, _) = ctl.text(&officer, &["licences", "show", &number]);
    assert!(licence.contains("(revision 2)"), "{licence}");
    assert!(licence.contains("used 500 of 1200 units"), "{licence}");

    // Appeal: denied by Alice and Bob, overturned by Carol.
    let denied = file(&officer);
    ctl.ok(
        &alice,
        &[
            "cases",
            "propose",
            &denied,
            "--deny",
            "--reason",
            "end user of concern",
            "--latest",
        ],
    );
    ctl.ok(&bob, &["cases", "countersign", &denied, "--latest"]);
    let appealed = ctl.ok(
        &officer,
        &[
            "applications",
            "appeal",
            &denied,
            "--grounds",
            "the end user was delisted",
        ],
    );
    assert_eq!(appealed["state"], "APPLICATION_STATE_UNDER_APPEAL");
    let (code, refused) = ctl.run(
        &bob,
        &[
            "cases",
            "decide-appeal",
            &denied,
            "--overturn",
            "--reason",
            "agreed",
            "--latest",
        ],
    );
    assert_eq!(code, 4, "{refused}");
    assert_eq!(refused["error"]["reason"], "APPEAL_NOT_INDEPENDENT");
    let overturned = ctl.ok(
        &carol,
        &[
            "cases",
            "decide-appeal",
            &denied,
            "--overturn",
            "--reason",
            "the delisting removes the ground",
            "--latest",
        ],
    );
    assert_eq!(
        overturned["application"]["state"],
        "APPLICATION_STATE_UNDER_REVIEW"
    );
    let (_, seen, _) = ctl.text(&officer, &["applications", "get", &denied]);
    assert!(seen.contains("denial OVERTURNED"), "{seen}");
}

on_both_databases!(
    a_whole_lifecycle_through_the_command_line,
    referral_amendment_and_appeal_through_the_command_line,
);
