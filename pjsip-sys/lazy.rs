//! Libraries loaded when first called, not at start: OpenSSL (TLS, DTLS, SHA-256 digests)
//! and libsrtp2 (which brings NSS). An idle phone that uses none of them kept them mapped and
//! relocated from exec on: 2.3 MB of its memory (libcrypto alone 1.45 MB) and their loading
//! time before the first REGISTER. Likewise alsa-lib (libasound), which the program's sound
//! device crates use: it loads when a call or a sound first opens a device. Its link is taken
//! from alsa-sys by the `[target.x86_64-unknown-linux-gnu.alsa]` override in
//! `.cargo/config.toml`, and its stand-ins are linked whole, since no pjproject archive asks
//! for them.
//!
//! For each such library, every function pjproject calls in it gets a stand-in of the same
//! name in our link: a jump through a table entry that starts empty. The first call of any
//! of them loads the library (`dlopen`), looks the function up (`dlsym`), fills the entry and
//! jumps there with the caller's registers untouched, so any signature (varargs too) passes
//! through. Later calls cost one indirect jump. x86-64 Linux only; elsewhere, and for a
//! library that exports data pjproject uses, the library is linked as usual.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The libraries of pjproject's link (as `-l` names) loaded on first use, each with what
/// needs it (for the message when it cannot be loaded).
pub const LIBS: &[(&str, &str)] = &[
    ("ssl", "TLS, DTLS, SRTP and SHA-256 digests need it"),
    ("crypto", "TLS, DTLS, SRTP and SHA-256 digests need it"),
    ("srtp2", "SRTP needs it"),
];

/// Libraries of other crates of the program loaded on first use: every function they export
/// gets a stand-in. Their own link must be taken away (see the module's comment).
pub const OTHERS: &[(&str, &str)] = &[("asound", "sound devices need it")];

/// Functions that only read or clear OpenSSL's error queue: before the library is loaded
/// there is nothing in it, so they answer 0 without loading it. (PJSIP clears the queue when
/// a TLS listener fails to open, for instance because its port is taken.)
const QUIET: &[&str] = &["ERR_clear_error", "ERR_get_error", "ERR_peek_error"];

/// One library to load on first use: its `-l` name, its soname and the functions to stand in for.
pub struct Lazy {
    pub lib: String,
    need: &'static str,
    soname: String,
    functions: Vec<String>,
}

/// Whether this target can have stand-ins (the jump code is x86-64 System V assembly).
pub fn supported() -> bool {
    std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
}

/// The symbols pjproject's archives use and do not define themselves.
pub fn undefined_in(archives: &[PathBuf]) -> Vec<String> {
    let names = |args: &[&str]| {
        let mut v: Vec<String> = archives
            .iter()
            .flat_map(|a| {
                tool_output("nm", args, a)
                    .lines()
                    .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let defined = names(&["--defined-only", "--format=posix"]);
    names(&["-u", "--format=posix"])
        .into_iter()
        .filter(|n| defined.binary_search(n).is_err())
        .collect()
}

/// What `lib` defines of `wanted` (all its functions when None), or None (link it as usual)
/// when the shared library is not found or one of the wanted symbols is data, which a jump
/// cannot stand in for.
pub fn plan(
    (lib, need): (&str, &'static str),
    wanted: Option<&[String]>,
    cc: &str,
) -> Option<Lazy> {
    let so = Command::new(cc)
        .arg(format!("-print-file-name=lib{lib}.so"))
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_absolute() && p.exists())?;
    let soname = tool_output("readelf", &["-d"], &so).lines().find_map(|l| {
        let rest = l.split("Library soname: [").nth(1)?;
        Some(rest.trim_end_matches(']').to_string())
    })?;
    let mut functions = Vec::new();
    // `nm -D --defined-only`: "name@@VERSION T address" in posix format.
    for line in tool_output("nm", &["-D", "--defined-only", "--format=posix"], &so).lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        let function = matches!(kind, "T" | "W" | "i");
        match wanted {
            Some(w) if w.binary_search_by(|w| w.as_str().cmp(name)).is_err() => continue,
            Some(_) if !function => return None,
            _ if function => functions.push(name.to_string()),
            _ => {}
        }
    }
    functions.sort();
    functions.dedup();
    Some(Lazy {
        lib: lib.to_string(),
        need,
        soname,
        functions,
    })
}

/// Writes and compiles the stand-ins of `libs` into a static library in `out`, and returns its
/// name for `cargo:rustc-link-lib=static=`.
pub fn build(libs: &[Lazy], out: &Path) -> &'static str {
    let dir = out.join("lazy");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let mut build = cc::Build::new();
    build.warnings(true).cargo_metadata(false);
    for l in libs {
        let id = ident(&l.lib);
        let asm = dir.join(format!("lazy_{id}.S"));
        let c = dir.join(format!("lazy_{id}.c"));
        fs::write(&asm, assembly(&id, &l.functions)).expect("write the stand-ins' assembly");
        fs::write(&c, loader(&id, l)).expect("write the loader");
        build.file(&asm).file(&c);
    }
    build.out_dir(&dir).compile("microsip_lazy");
    "microsip_lazy"
}

fn ident(lib: &str) -> String {
    lib.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Each function: jump through its table entry, or to the slow path with its index in r11.
/// The slow path keeps every argument register (and rax, the vector count of a varargs call)
/// across the C resolver, then jumps to what it found.
fn assembly(id: &str, functions: &[String]) -> String {
    let mut s = String::new();
    s.push_str("/* Generated by pjsip-sys/build.rs (lazy.rs): stand-ins loading the library on first call. */\n");
    s.push_str("\t.text\n");
    for (i, f) in functions.iter().enumerate() {
        let off = i * 8;
        for line in [
            format!("\t.globl {f}"),
            format!("\t.type {f},@function"),
            "\t.p2align 4".to_string(),
            format!("{f}:"),
            "\t.cfi_startproc".to_string(),
            "\tendbr64".to_string(),
            format!("\tmovq lazy_{id}_table+{off}(%rip), %r11"),
            "\ttestq %r11, %r11".to_string(),
            "\tjz 1f".to_string(),
            "\tjmpq *%r11".to_string(),
            format!("1:\tmovl ${i}, %r11d"),
            format!("\tjmp lazy_{id}_slow"),
            "\t.cfi_endproc".to_string(),
            format!("\t.size {f}, .-{f}"),
        ] {
            s.push_str(&line);
            s.push('\n');
        }
    }
    s.push_str(&format!(
        "\t.p2align 4\n\t.type lazy_{id}_slow,@function\nlazy_{id}_slow:\n\t.cfi_startproc\n"
    ));
    for r in ["rdi", "rsi", "rdx", "rcx", "r8", "r9", "rax"] {
        s.push_str(&format!("\tpushq %{r}\n\t.cfi_adjust_cfa_offset 8\n"));
    }
    s.push_str("\tsubq $128, %rsp\n\t.cfi_adjust_cfa_offset 128\n");
    for k in 0..8 {
        s.push_str(&format!("\tmovdqu %xmm{k}, {}(%rsp)\n", k * 16));
    }
    s.push_str(&format!(
        "\tmovl %r11d, %edi\n\tcall lazy_{id}_resolve\n\tmovq %rax, %r11\n"
    ));
    for k in 0..8 {
        s.push_str(&format!("\tmovdqu {}(%rsp), %xmm{k}\n", k * 16));
    }
    s.push_str("\taddq $128, %rsp\n\t.cfi_adjust_cfa_offset -128\n");
    for r in ["rax", "r9", "r8", "rcx", "rdx", "rsi", "rdi"] {
        s.push_str(&format!("\tpopq %{r}\n\t.cfi_adjust_cfa_offset -8\n"));
    }
    s.push_str("\tjmpq *%r11\n\t.cfi_endproc\n");
    s.push_str(&format!("\t.size lazy_{id}_slow, .-lazy_{id}_slow\n"));
    s.push_str("\t.section .note.GNU-stack,\"\",@progbits\n");
    s
}

/// The table, the names, and the resolver: loads the library once (any thread), finds the
/// function, and stops the program with a message naming the library if it cannot.
fn loader(id: &str, l: &Lazy) -> String {
    let (soname, functions, need) = (&l.soname, &l.functions, l.need);
    let names: String = functions
        .iter()
        .map(|f| format!("    \"{f}\",\n"))
        .collect();
    let quiet: String = functions
        .iter()
        .map(|f| format!("    {},\n", u8::from(QUIET.contains(&f.as_str()))))
        .collect();
    format!(
        "/* Generated by pjsip-sys/build.rs (lazy.rs): loads {soname} on first call. */\n\
         #include <dlfcn.h>\n#include <pthread.h>\n#include <stdio.h>\n#include <stdlib.h>\n\n\
         __attribute__((visibility(\"hidden\"))) void *lazy_{id}_table[{n}];\n\
         static const char *const names[{n}] = {{\n{names}}};\n\
         /* 1: answers 0 while the library is not loaded (QUIET in lazy.rs) */\n\
         static const unsigned char quiet[{n}] = {{\n{quiet}}};\n\
         static pthread_once_t once = PTHREAD_ONCE_INIT;\n\
         static void *handle;\n\n\
         static unsigned long nothing(void)\n{{\n    return 0;\n}}\n\n\
         static void load(void)\n{{\n\
         \x20   handle = dlopen(\"{soname}\", RTLD_NOW | RTLD_GLOBAL);\n}}\n\n\
         __attribute__((visibility(\"hidden\"))) void *lazy_{id}_resolve(unsigned idx)\n{{\n\
         \x20   void *f;\n\
         \x20   /* not loaded (by us, or as another library's dependency): nothing queued */\n\
         \x20   if (quiet[idx] && !dlopen(\"{soname}\", RTLD_NOW | RTLD_NOLOAD))\n\
         \x20       return (void *)nothing;\n\
         \x20   pthread_once(&once, load);\n\
         \x20   if (!handle) {{\n\
         \x20       fprintf(stderr, \"microsip: cannot load {soname} (%s); install it ({need})\\n\",\n\
         \x20               dlerror());\n\
         \x20       abort();\n\
         \x20   }}\n\
         \x20   f = dlsym(handle, names[idx]);\n\
         \x20   if (!f) {{\n\
         \x20       fprintf(stderr, \"microsip: {soname} has no %s; install the version this build \"\n\
         \x20               \"was made with\\n\", names[idx]);\n\
         \x20       abort();\n\
         \x20   }}\n\
         \x20   __atomic_store_n(&lazy_{id}_table[idx], f, __ATOMIC_RELEASE);\n\
         \x20   return f;\n\
         }}\n",
        n = functions.len().max(1),
    )
}

fn tool_output(tool: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} on {}: {e}", file.display()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
