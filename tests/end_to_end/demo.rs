//! `clearance demo` tells the whole story and succeeds.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guided_demo_runs_the_whole_story_from_h20_to_h200() {
    let mut out = Vec::new();
    clearance_server::demo::run(&mut out)
        .await
        .expect("the demo succeeds");
    let text = String::from_utf8(out).unwrap();
    for step in [
        "published us-advanced-computing v2",
        "H20-class accelerator    on 1 March 2025 : no licence required",
        "H20-class accelerator    on 1 May 2025   : LICENCE REQUIRED",
        "submitted; determination stored with it: LICENCE REQUIRED",
        "asked: ",
        "licence CLL-2025-000001 issued for 800 units",
        "500 units shipped",
        "400 more refused",
        "recorded as NLR (no licence required): true",
        "review policy: presumption of denial → case by case",
        "refused (the two-person rule)",
        "H20-class accelerator, part H20-SXM",
        "published us-advanced-computing v3",
        "refused: licence CLL-2025-000001: the licence is SUSPENDED",
        "a proposal now is refused: advice is still due from: defense, energy",
        "energy advises: approve with a proviso",
        "reads the advice of 2 agencies and countersigns",
        "revision 2: 1200 granted, 500 used, 700 remaining",
        "the 400 units refused in May now ship",
        "denied on 1 December 2025",
        "Acme appeals; the appeal runs on its own clock, due 2026-02-02",
        "so he may not decide the appeal",
        "(under appeal) lines[0]: review policy: presumption of denial → case by case",
        "published us-advanced-computing v4",
        "overturned; licence CLL-2026-000001 issued for 200 H200-class parts",
        "within 50% of the US units Acme reports (91 FR 1684",
        "chain intact: true",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
}
