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
    // The functions of start-up, idle and a call side by side at the start of .text
    // (link/startup.order, from scripts/startup-order.sh): the kernel maps code in blocks
    // around each page first touched, and spread out, start-up kept 3.2 MB of code resident
    // for an idle phone (0.8 MB side by side). Only with LLD, rustc's own linker for this
    // target since 1.90; another linker gets no ordering.
    println!("cargo:rerun-if-changed=link/startup.order");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("link/startup.order");
    if target == "x86_64-unknown-linux-gnu" && links_with_lld() && order.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names the list has and this build lacks (code changed since) are left where they are.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links with its own LLD here: rustc 1.90 or later, and no linker of the user's.
fn links_with_lld() -> bool {
    let own_linker = std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
        || std::env::var("CARGO_ENCODED_RUSTFLAGS")
            .unwrap_or_default()
            .contains("link");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let release = text
                .lines()
                .find_map(|l| l.strip_prefix("release: "))?
                .to_string();
            release.split('.').nth(1)?.parse::<u32>().ok()
        });
    !own_linker && minor.is_some_and(|m| m >= 90)
}
