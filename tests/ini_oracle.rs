//! Our MicroSIP.ini reader against an independent one: rust-ini reads the same UTF-8 file,
//! and every key it finds must come out of `Config::effective_lines` with the same value
//! (the file uses each key's canonical spelling, so the effective value is the raw text).
//!
//! rust-ini cannot be the phone's own reader: it loses comments, order, quoting, the BOM,
//! UTF-16 and line endings on write-back and reports no line numbers, all of which the phone
//! needs. Here it serves as the oracle for what an INI reader sees in the file.

use std::path::Path;

const FILE: &str = "\
[Settings]
accountId=2
singleMode=0
autoAnswer=header
autoAnswerDelay=3
audioCodecs=G722/16000/1 PCMA/8000/1 PCMU/8000/1
sourcePort=5070
rtpPortMin=20000
rtpPortMax=20100
denyIncoming=remotedomain
forwarding=button
forwardingNumber=+491701234567
featureCodeBT=#9
userAgent=Intercom Lobby
recordingFormat=wav
DTMFMethod=3
mainX=120
enableLog=1
[Account2]
label=Office
server=pbx.example.com:5080
proxy=proxy1.example.com proxy2.example.com
domain=example.com
username=2001
authID=auth2001
displayName=Jürgen Müller
dialingPrefix=0
transport=tcp
SRTP=optional
registerRefresh=600
keepAlive=30
voicemailNumber=*97
";

#[test]
fn every_key_rust_ini_reads_has_the_same_effective_value() {
    let oracle = ini::Ini::load_from_str(FILE).expect("rust-ini reads the file");
    let cfg = microsip::config::parse_bytes(Path::new("oracle.ini"), FILE.as_bytes())
        .expect("we read it");
    let ours = cfg.effective_lines();
    let mut compared = 0;
    for (section, props) in oracle.iter() {
        let Some(section) = section else { continue };
        for (key, value) in props.iter() {
            let line = format!("{section}.{key}={value}");
            assert!(
                ours.contains(&line),
                "rust-ini reads {line:?}, we do not:\n{}",
                ours.join("\n")
            );
            compared += 1;
        }
    }
    assert_eq!(compared, FILE.lines().filter(|l| l.contains('=')).count());
}
