//! `#[erpc::service]` misuse gets a clear message pointing at the offending code.

#[test]
fn service_macro_diagnostics() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
