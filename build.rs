//! Root build script: records what the binary reports about its own build.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let pj = std::env::var("DEP_PJPROJECT_ROOT").unwrap_or_default();
    println!("cargo:rustc-env=MICROSIP_PJPROJECT_INSTALL={pj}");
    // The executable's relative relocations packed (DT_RELR, glibc 2.36): 20,000 of them were
    // 0.5 MB read and kept in memory at every start.
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
