//! Root build script: records what the binary reports about its own build.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let pj = std::env::var("DEP_PJPROJECT_ROOT").unwrap_or_default();
    println!("cargo:rustc-env=MICROSIP_PJPROJECT_INSTALL={pj}");
}
