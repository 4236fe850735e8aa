//! SIP URI helpers of the dial pipeline: MicroSIP's `GetSIPURI`, `AddTransportSuffix`,
//! the domain part of `MSIP::ParseSIPURI`, and a cheap syntax check.

use super::DialError;

/// MicroSIP's limit for the UTF-8 form of a URI to call (`msip_verify_sip_url`).
pub const MAX_URI_BYTES: usize = 900;

/// `GetSIPURI` in its "simple" form (step 5, without transport).
///
/// * `sip:` is put in front unless `sip:` occurs anywhere in the text, ignoring case. We also
///   count `sips:` as a scheme (MicroSIP 3.22.3 would turn `sips:x` into `sip:sips:x`; see
///   the `sips:` section of the `dial` module docs).
/// * Without an `@`, `@domain` is added when `domain` is given. Deliberate fix: MicroSIP
///   looks for `@` anywhere and appends at the very end, which turns `100;user=phone` into
///   `sip:100;user=phone@pbx` and `100?X-Hdr=v` into a header value `v@pbx` (the call then
///   goes to host `100`). We look for `@` and insert `@domain` before the first `;`, `?` or
///   `>` of the address (after a `<`, if any), so parameters and headers stay intact.
/// * The result is wrapped in `<…>` unless it already ends with `>`.
pub fn format_sip_uri(text: &str, domain: Option<&str>) -> String {
    let lower = text.to_ascii_lowercase();
    let mut uri = if lower.contains("sip:") || lower.contains("sips:") {
        text.to_string()
    } else {
        format!("sip:{text}")
    };
    if let Some(domain) = domain {
        let start = uri.find('<').map_or(0, |lt| lt + 1);
        let end = uri[start..]
            .find([';', '?', '>'])
            .map_or(uri.len(), |i| start + i);
        if !uri[start..end].contains('@') {
            uri.insert_str(end, &format!("@{domain}"));
        }
    }
    if uri.ends_with('>') {
        uri
    } else {
        format!("<{uri}>")
    }
}

/// The transport parameter MicroSIP adds for an account: `tcp` when the account's
/// `transport` is `tcp` and a TCP transport exists, `tls` likewise, else none.
pub fn transport_param(
    account_transport: &str,
    tcp_exists: bool,
    tls_exists: bool,
) -> Option<&'static str> {
    match account_transport {
        "tcp" if tcp_exists => Some("tcp"),
        "tls" if tls_exists => Some("tls"),
        _ => None,
    }
}

/// The final step of `GetSIPURI` (B's `AddTransportSuffix`) applied to a URI that
/// [`format_sip_uri`] produced: existing `;transport`, `;ttl` and `;maddr` parameters are
/// removed, then `;transport=…` is added before any `?` headers, inside the closing `>`.
///
/// Two deliberate differences from MicroSIP 3.22.16, which can lose data: parameter names
/// match in any case, and a removed parameter ends at the next `;` *or* `?` and is only looked
/// for before the `?`, so URI headers (`?X-Hdr=v`) always survive (B deletes to the end of
/// the string when the parameter is the last one, headers included).
pub fn add_transport(uri: &str, transport: Option<&str>) -> String {
    let (body, close) = match uri.strip_suffix('>') {
        Some(body) => (body, ">"),
        None => (uri, ""),
    };
    let (params, headers) = body.split_at(body.find('?').unwrap_or(body.len()));
    let mut params = params.to_string();
    for name in ["transport", "ttl", "maddr"] {
        remove_param(&mut params, name);
    }
    if let Some(transport) = transport {
        params.push_str(";transport=");
        params.push_str(transport);
    }
    format!("{params}{headers}{close}")
}

/// Removes every `;name` or `;name=value` parameter (name in any case).
fn remove_param(text: &mut String, name: &str) {
    let pattern = format!(";{name}");
    let mut from = 0;
    while let Some(found) = text[from..].to_ascii_lowercase().find(&pattern) {
        let pos = from + found;
        let after = pos + pattern.len();
        match text.as_bytes().get(after) {
            Some(b'=') | Some(b';') | None => {
                let end = text[after..].find(';').map_or(text.len(), |i| after + i);
                text.replace_range(pos..end, "");
                from = pos;
            }
            Some(_) => from = after,
        }
    }
}

/// The domain of a dialled text as `MSIP::ParseSIPURI` sees it: inside `<…>` if present,
/// without a leading `sip:`/`sips:` (any case), cut at the first `;` (else the first `?`),
/// after the first `@`; with no `@` the whole remaining text counts as the domain (so a bare
/// `192.168.1.10` or `localhost` is a domain).
pub fn uri_domain(text: &str) -> &str {
    let text = text.trim();
    let mut inner = match (text.find('<'), text.rfind('>')) {
        (Some(lt), Some(gt)) if gt > lt => &text[lt + 1..gt],
        _ => text,
    };
    inner = strip_prefix_ignore_case(inner, "sip:");
    inner = strip_prefix_ignore_case(inner, "sips:");
    if let Some(cut) = inner.find(';').or_else(|| inner.find('?')) {
        inner = &inner[..cut];
    }
    match inner.find('@') {
        Some(at) => &inner[at + 1..],
        None => inner,
    }
}

/// The user part and the host of the URI in a header value (`"Bob" <sip:bob@host:5060>;tag=1`
/// → (`bob`, `host`)): inside `<…>` if present, without the scheme (`sip:`, `sips:`, `tel:`),
/// parameters, headers or port. A URI with no `@` has an empty user.
pub fn uri_user_host(value: &str) -> (String, String) {
    let uri = value
        .rsplit_once('<')
        .map_or(value, |(_, r)| r.split('>').next().unwrap_or(r))
        .trim();
    let mut rest = strip_prefix_ignore_case(uri, "sip:");
    rest = strip_prefix_ignore_case(rest, "sips:");
    rest = strip_prefix_ignore_case(rest, "tel:");
    // The user part may hold `;` and `?` (RFC 3261's user-unreserved): parameters and
    // headers start after the host.
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((user, host)) => (user, host),
        None => ("", rest),
    };
    let hostport = hostport.split([';', '?']).next().unwrap_or(hostport);
    let host = match hostport.strip_prefix('[') {
        // An IPv6 reference: up to its closing bracket.
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => hostport.split(':').next().unwrap_or(hostport),
    };
    (user.to_string(), host.to_string())
}

/// The display name of a header value (`"Bob \"B\"" <sip:bob@host>` → `Bob "B"`,
/// `Bob <sip:bob@host>` → `Bob`); "" when there is none.
pub fn display_name(value: &str) -> String {
    let value = value.trim();
    if let Some(quoted) = value.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => name.extend(chars.next()),
                '"' => break,
                c => name.push(c),
            }
        }
        return name;
    }
    match value.find('<') {
        Some(lt) => value[..lt].trim().to_string(),
        None => String::new(),
    }
}

/// MicroSIP's wildcard match (`CMask::WildMatch`): `*` matches any run of characters, `?` one
/// character; letters are compared ignoring case.
pub fn wild_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Greedy matching with one backtrack point (the last `*`).
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> &'a str {
    match text.as_bytes().get(..prefix.len()) {
        // The prefix is ASCII, so its length is a char boundary in `text`.
        Some(head) if head.eq_ignore_ascii_case(prefix.as_bytes()) => &text[prefix.len()..],
        _ => text,
    }
}

/// Step 6: MicroSIP refuses a URI whose UTF-8 form is longer than [`MAX_URI_BYTES`]. Then a
/// cheap syntax check (the engine still calls `pjsua_verify_sip_url`): no control character
/// anywhere (a display name included), balanced `<…>`, no white space inside them, a
/// `sip:`/`sips:` scheme, a non-empty user when there is an `@`, and a non-empty host.
pub fn validate_uri(uri: &str) -> Result<(), DialError> {
    if uri.len() > MAX_URI_BYTES {
        return Err(DialError::UriTooLong { bytes: uri.len() });
    }
    let invalid = |reason: &str| DialError::InvalidUri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    };
    // A display name before the `<` too: SIP's quoted strings hold no control characters.
    if uri.chars().any(char::is_control) {
        return Err(invalid(
            "it contains control characters (a display name included); remove them",
        ));
    }
    let addr = match uri.find('<') {
        Some(lt) => uri[lt + 1..]
            .strip_suffix('>')
            .ok_or_else(|| invalid("a `<` without a closing `>` at the end"))?,
        None => uri,
    };
    if addr.contains(['<', '>']) {
        return Err(invalid("unbalanced `<` or `>`"));
    }
    if addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "it contains white space or control characters; a space is only removed from \
             phone numbers made of digits and * # . - ( ) /",
        ));
    }
    let rest = ["sip:", "sips:"]
        .iter()
        .find_map(|scheme| {
            let stripped = strip_prefix_ignore_case(addr, scheme);
            (stripped.len() != addr.len()).then_some(stripped)
        })
        .ok_or_else(|| invalid("it must start with sip: or sips:"))?;
    let hostport = &rest[..rest.find([';', '?']).unwrap_or(rest.len())];
    let host = match hostport.split_once('@') {
        Some(("", _)) => return Err(invalid("nothing before the `@`: give a user or number")),
        Some((_, host)) => host,
        None => hostport,
    };
    if host.contains('@') {
        return Err(invalid("more than one `@`"));
    }
    if host.is_empty() || host.starts_with(':') {
        return Err(invalid(
            "no host: give a domain after the `@`, or set the account's domain",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_host_of_header_values() {
        let uh = |v: &str| uri_user_host(v);
        assert_eq!(
            uh("\"Bob\" <sip:bob@Host.example:5060;transport=udp>;tag=1"),
            ("bob".into(), "Host.example".into())
        );
        assert_eq!(uh("sip:100@10.0.0.1"), ("100".into(), "10.0.0.1".into()));
        assert_eq!(
            uh("<sip:127.0.0.1:5060>"),
            (String::new(), "127.0.0.1".into())
        );
        assert_eq!(uh("<sips:a@[::1]:5061>"), ("a".into(), "::1".into()));
        assert_eq!(uh("<tel:+4930123>"), (String::new(), "+4930123".into()));
        // A display name holding `<` and `@` does not confuse it.
        assert_eq!(uh("\"x@y <z>\" <sip:u@h>"), ("u".into(), "h".into()));
        // `;` and `?` belong to the user part before the `@`.
        assert_eq!(
            uh("<sip:a;b?c@h;transport=tcp?x=y>"),
            ("a;b?c".into(), "h".into())
        );
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name("\"Bob \\\"B\\\"\" <sip:b@h>"), "Bob \"B\"");
        assert_eq!(display_name("Bob Smith <sip:b@h>"), "Bob Smith");
        assert_eq!(display_name("<sip:b@h>"), "");
        assert_eq!(display_name("sip:b@h"), "");
    }

    #[test]
    fn wildcards_as_microsip_matches_them() {
        assert!(wild_match("100", "100"));
        assert!(!wild_match("100", "1000"));
        assert!(wild_match("1*", "100") && wild_match("1*", "1"));
        assert!(wild_match("*0", "100") && !wild_match("*1", "100"));
        assert!(wild_match("1?0", "100") && !wild_match("1?0", "10"));
        assert!(wild_match("*", "") && !wild_match("?", ""));
        assert!(wild_match("Al*e", "alice") && wild_match("a*b*c", "aXbYbZc"));
        assert!(!wild_match("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn adds_scheme_domain_and_brackets() {
        assert_eq!(format_sip_uri("100", Some("pbx.lan")), "<sip:100@pbx.lan>");
        assert_eq!(
            format_sip_uri("100@other", Some("pbx.lan")),
            "<sip:100@other>"
        );
        assert_eq!(format_sip_uri("100", None), "<sip:100>");
        assert_eq!(format_sip_uri("SIP:100@x", Some("pbx")), "<SIP:100@x>");
        assert_eq!(format_sip_uri("<sip:100@x>", Some("pbx")), "<sip:100@x>");
        assert_eq!(
            format_sip_uri("\"Bob\" <sip:bob@x>", Some("pbx")),
            "\"Bob\" <sip:bob@x>"
        );
    }

    #[test]
    fn sip_anywhere_suppresses_the_scheme() {
        // MicroSIP's quirk, kept: `sip:` inside a parameter counts as a scheme.
        assert_eq!(
            format_sip_uri("100@x;foo=sip:y", Some("pbx")),
            "<100@x;foo=sip:y>"
        );
    }

    #[test]
    fn domain_goes_before_parameters_and_headers() {
        assert_eq!(
            format_sip_uri("100;user=phone", Some("pbx")),
            "<sip:100@pbx;user=phone>"
        );
        assert_eq!(
            format_sip_uri("100?X-A=a@b", Some("pbx")),
            "<sip:100@pbx?X-A=a@b>",
            "an @ in a header is not a domain"
        );
        assert_eq!(
            format_sip_uri("\"a@b\" <sip:bob>", Some("pbx")),
            "\"a@b\" <sip:bob@pbx>"
        );
        assert_eq!(format_sip_uri("100;x=1", None), "<sip:100;x=1>");
    }

    #[test]
    fn sips_is_kept() {
        assert_eq!(
            format_sip_uri("sips:alice@x", Some("pbx")),
            "<sips:alice@x>"
        );
        assert_eq!(
            format_sip_uri("SIPS:alice", Some("pbx")),
            "<SIPS:alice@pbx>"
        );
    }

    #[test]
    fn transport_suffix() {
        assert_eq!(transport_param("tcp", true, false), Some("tcp"));
        assert_eq!(transport_param("tcp", false, true), None);
        assert_eq!(transport_param("tls", true, true), Some("tls"));
        assert_eq!(transport_param("udp", true, true), None);
        assert_eq!(
            transport_param("TCP", true, true),
            None,
            "exact, like MicroSIP"
        );
        assert_eq!(
            add_transport("<sip:100@pbx>", Some("tcp")),
            "<sip:100@pbx;transport=tcp>"
        );
        assert_eq!(
            add_transport("<sip:100@pbx;foo=1?X-Hdr=v>", Some("tls")),
            "<sip:100@pbx;foo=1;transport=tls?X-Hdr=v>"
        );
        assert_eq!(
            add_transport("<sip:100@pbx?a=b>", None),
            "<sip:100@pbx?a=b>"
        );
    }

    #[test]
    fn existing_transport_ttl_maddr_are_replaced() {
        assert_eq!(
            add_transport("<sip:1@x;transport=udp;user=phone>", Some("tcp")),
            "<sip:1@x;user=phone;transport=tcp>"
        );
        assert_eq!(
            add_transport("<sip:1@x;ttl=5;maddr=1.2.3.4;lr>", None),
            "<sip:1@x;lr>"
        );
        assert_eq!(add_transport("<sip:1@x;Transport=UDP>", None), "<sip:1@x>");
        assert_eq!(add_transport("<sip:1@x;ttl>", None), "<sip:1@x>");
        assert_eq!(
            add_transport("<sip:1@x;transports=a;ttlx>", None),
            "<sip:1@x;transports=a;ttlx>",
            "only whole names"
        );
        assert_eq!(
            add_transport("<sip:1@x;transport=udp?X-H=1>", Some("tcp")),
            "<sip:1@x;transport=tcp?X-H=1>",
            "headers survive (MicroSIP 3.22.16 would drop them)"
        );
    }

    #[test]
    fn domain_as_parse_sip_uri_sees_it() {
        assert_eq!(uri_domain("100"), "100");
        assert_eq!(uri_domain("192.168.1.5:5070"), "192.168.1.5:5070");
        assert_eq!(uri_domain("sip:100@pbx.lan;user=phone"), "pbx.lan");
        assert_eq!(uri_domain("SIPS:100@pbx?X=1"), "pbx");
        assert_eq!(uri_domain(" \"Bob\" <sip:bob@host:5060> "), "host:5060");
        assert_eq!(uri_domain("a@b@c"), "b@c");
    }

    #[test]
    fn validation() {
        assert_eq!(validate_uri("<sip:100@pbx>"), Ok(()));
        assert_eq!(
            validate_uri("<sips:100@pbx:5061;transport=tls?X=1>"),
            Ok(())
        );
        assert_eq!(validate_uri("<sip:192.168.1.5>"), Ok(()));
        assert_eq!(validate_uri("\"Bob\" <sip:bob@x>"), Ok(()));
        for bad in [
            "<sip:@pbx>",
            "<sip:100@>",
            "<sip:100@pbx",
            "<<sip:1>@pbx>",
            "<sip:john doe@pbx>",
            "<tel:100>",
            "<100@x;foo=sip:y>",
            "<sip:a@b@c>",
            "<sip:>",
        ] {
            assert!(
                matches!(validate_uri(bad), Err(DialError::InvalidUri { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn control_characters_in_a_display_name_are_refused() {
        // Found while writing the dial_pipeline fuzz target: only the part inside `<…>` was
        // checked, so `"\x01" <sip:a@b>` went to PJSIP as it was.
        for bad in [
            "\"\u{1}\" <sip:a@b>",
            "\u{1b}[2J <sip:a@b>",
            "\"a\tb\" <sip:a@b>",
        ] {
            assert!(
                matches!(validate_uri(bad), Err(DialError::InvalidUri { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(validate_uri("\"B\u{f6}b B\" <sip:a@b>"), Ok(()));
    }

    #[test]
    fn length_limit_counts_utf8_bytes() {
        let user = "ü".repeat(445); // 890 bytes
        let ok = format!("<sip:{user}@abc>");
        assert_eq!(ok.len(), MAX_URI_BYTES);
        assert_eq!(validate_uri(&ok), Ok(()));
        let long = format!("<sip:{user}@abcd>");
        assert_eq!(
            validate_uri(&long),
            Err(DialError::UriTooLong { bytes: 901 })
        );
    }
}
