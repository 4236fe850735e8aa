//! MicroSIP.ini.example is the phone's working default: it must load without a warning, list
//! every key microsip knows, and mean "local account on 5060, answer every call".

use std::path::Path;

use microsip::config::{self, AutoAnswer, Level};

fn example() -> config::Config {
    config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("MicroSIP.ini.example"))
        .expect("the example loads")
}

#[test]
fn example_loads_without_warnings() {
    let cfg = example();
    let warnings: Vec<String> = cfg
        .diagnostics
        .iter()
        .filter(|d| d.level != Level::Info)
        .map(|d| d.to_string())
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn example_is_the_no_pbx_intercom() {
    let cfg = example();
    assert_eq!(cfg.settings.account_id, 0);
    assert!(cfg.local_account_enabled());
    assert!(cfg.active_account().is_none());
    assert_eq!(cfg.settings.source_port, 5060);
    assert_eq!(cfg.settings.auto_answer, AutoAnswer::All);
    assert_eq!(cfg.settings.auto_answer_delay, 0);
}

#[test]
fn example_lists_every_key() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("MicroSIP.ini.example"))
            .unwrap();
    let present: Vec<String> = text
        .lines()
        // Keys of the commented-out account template count too (`;domain=`).
        .map(|l| l.trim_start().trim_start_matches(';'))
        .filter(|l| !l.contains(' ') || l.split_once('=').is_some_and(|(k, _)| !k.contains(' ')))
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, _)| k.trim().to_ascii_lowercase())
        })
        .collect();
    // With a domain, [Account1] loads and its keys show up too.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("MicroSIP.ini.example");
    let with_account = text
        .replace(";[Account1]\n", "[Account1]\n")
        .replace(";domain=\n", "domain=example.com\n");
    let cfg = config::parse_bytes(&path, with_account.as_bytes()).expect("parses");
    assert!(cfg.accounts.contains_key(&1));
    for line in cfg.effective_lines() {
        let key = line.split_once('=').unwrap().0;
        let (section, name) = key.split_once('.').unwrap();
        if section == "Settings" || section == "Account1" {
            assert!(
                present.contains(&name.to_ascii_lowercase()),
                "{key} is missing from MicroSIP.ini.example"
            );
        }
    }
}
