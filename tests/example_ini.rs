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

/// Every key of the two key tables is applied by some code path outside `src/config` (its
/// field is read there), or is on the documented `NOT_APPLIED` / `NOTHING_TO_APPLY` lists;
/// and the README's list of keys that are not applied names each of them.
#[test]
fn every_key_is_applied_or_listed_as_not_applied() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tables = std::fs::read_to_string(root.join("src/config/keys.rs")).unwrap();
    let line = regex::Regex::new(r#"(?m)^\s+(\w+): [\w<>]+ = "(\w+)""#).unwrap();
    let keys: Vec<(String, String)> = line
        .captures_iter(&tables)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    assert!(
        keys.len() > 130,
        "the tables were read: {} keys",
        keys.len()
    );
    let mut code = String::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("config") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                code += &std::fs::read_to_string(&path).unwrap();
            }
        }
    }
    // Keys the config module itself turns into what the rest of the program uses.
    let applied_in_config = [
        ("accountId", "Config::active_account"),
        ("enableLocalAccount", "Config::local_account_enabled"),
    ];
    let listed = |name: &str| {
        config::NOT_APPLIED.iter().any(|(k, _)| *k == name)
            || config::NOTHING_TO_APPLY.contains(&name)
            || applied_in_config.iter().any(|(k, _)| *k == name)
    };
    let silent: Vec<&str> = keys
        .iter()
        .filter(|(field, name)| {
            !listed(name)
                && !regex::Regex::new(&format!(r"\.{field}\b"))
                    .unwrap()
                    .is_match(&code)
        })
        .map(|(_, name)| name.as_str())
        .collect();
    assert!(
        silent.is_empty(),
        "read but used nowhere, and not on the not-applied list: {silent:?}"
    );
    for (name, _) in config::NOT_APPLIED {
        assert!(
            keys.iter().any(|(_, k)| k == name),
            "{name} is on NOT_APPLIED but is no key of the tables"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("### Keys that are not applied")
        .nth(1)
        .expect("the README has a section on keys that are not applied");
    let section = section.split("\n#").next().unwrap();
    for (name, _) in config::NOT_APPLIED {
        assert!(
            section.contains(&format!("`{name}`")),
            "the README's list of keys that are not applied misses `{name}`"
        );
    }
    // And it names no key that is applied.
    for (_, name) in &keys {
        assert!(
            !section.contains(&format!("`{name}`")) || listed(name),
            "the README lists `{name}` as not applied, but it is applied"
        );
    }
}
