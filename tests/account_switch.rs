//! `/account:N` from a second process: the phone saves `accountId=N` into MicroSIP.ini
//! (leaving every other byte of the file as it was), un-registers the old account and
//! registers the new one, as MicroSIP does.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use support::{Kamailio, Phone, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, DOMAIN};

const T: Duration = Duration::from_secs(15);

#[test]
fn account_switch_is_saved_and_registers_the_new_account() {
    let kam = Kamailio::start();
    let ini = format!(
        "; written by MicroSIP\r\n[Settings]\r\naccountId=1\r\nsourcePort={port}\r\nautoAnswer=all\r\n\
         mainX=120\r\n\r\n[Account1]\r\nserver={addr}\r\ndomain={DOMAIN}\r\nusername={ALICE}\r\n\
         password={ALICE_PASSWORD}\r\n\r\n[Account2]\r\nserver={addr}\r\ndomain={DOMAIN}\r\n\
         username={BOB}\r\npassword={BOB_PASSWORD}\r\n\r\n[Shortcuts]\r\n0=Door;100;0\r\n",
        port = support::free_udp_port(),
        addr = kam.addr()
    );
    let phone = Phone::start(&ini, &[]);
    phone.wait_line("registered: Account1: 200", T);
    kam.wait_binding(ALICE, T);

    let path = phone.ini_path().to_str().unwrap().to_string();
    let (status, out) = Phone::run_to_exit(&["--ini", &path, "/account:2"], T);
    assert!(status.success(), "forwarded /account:2 failed: {out}");

    phone.wait_line("registered: Account2: 200", T);
    kam.wait_binding(BOB, T);
    kam.wait_no_binding(ALICE, T);

    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        saved,
        ini.replace("accountId=1\r\n", "accountId=2\r\n"),
        "only accountId changed"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file holds passwords");
}
