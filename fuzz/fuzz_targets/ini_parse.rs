//! MicroSIP.ini parsing on arbitrary bytes: no panic; an unchanged document serialises to
//! exactly the input; a written key reads back with the same typed view.
//!
//! Run: `cargo +nightly fuzz run ini_parse -- -dict=fuzz/ini.dict`
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use microsip::config;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz/MicroSIP.ini");
    let Ok(mut loaded) = config::parse_bytes(path, data) else {
        return;
    };
    assert!(!loaded.effective_lines().is_empty());
    for diagnostic in &loaded.diagnostics {
        let _ = diagnostic.to_string();
    }
    assert_eq!(
        loaded.to_bytes(),
        data,
        "an unchanged document must serialise to the input bytes"
    );
    if loaded.try_set_setting("DND", "1").is_ok() {
        let written = loaded.to_bytes();
        let reread = config::parse_bytes(path, &written).expect("a written file parses");
        assert!(reread.settings.dnd);
        assert_eq!(reread.settings, loaded.settings);
        assert_eq!(reread.accounts, loaded.accounts);
    }
});
