//! Compile-time behaviour of the attributes: what compiles, and the errors for what
//! does not (each `.stderr` file is the expected message, spans included).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
