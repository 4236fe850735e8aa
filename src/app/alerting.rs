//! The HTTP receiver for alerting systems (our own `[Alerting]` section, off by default):
//! Prometheus Alertmanager's webhook (payload version 4) places an alert call per firing
//! group and a `resolved` notification for the group calls it off; `POST /call` places one
//! for any other system; `GET /status` lists the alerts in progress.
//!
//! The server thread answers at once (an alert call is never waited for): it checks the
//! request and hands the main loop an [`AlertingRequest`].
#![forbid(unsafe_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use serde_json::{json, Value};

use super::alert::{AlertSpec, PromptSource, Sound};
use crate::config::Config;

/// The largest request body taken.
const MAX_BODY: usize = 1 << 20;

/// A label match that picks targets: `routeN=LABEL=VALUE TARGET...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub label: String,
    pub value: String,
    pub targets: Vec<String>,
}

/// `[Alerting]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertingSettings {
    /// `listen=ADDR:PORT`.
    pub listen: SocketAddr,
    /// `token=`: required as `Authorization: Bearer TOKEN` when set (it must be set when
    /// `listen` is not a loopback address).
    pub token: Option<String>,
    /// `targets=`: who is called when no route matches.
    pub targets: Vec<String>,
    /// `route1=`, `route2=`...: the first that matches a firing group's labels wins.
    pub routes: Vec<Route>,
    /// The alert options (`ack`, `repeat`, `timeout`, `retries`, `retryDelay`, `parallel`) as
    /// `--alert` arguments.
    pub options: Vec<String>,
}

impl AlertingSettings {
    /// `[Alerting]` of `cfg`: `Ok(None)` when it has no `listen`; an error that says what to
    /// fix otherwise.
    pub fn from_config(cfg: &Config) -> Result<Option<AlertingSettings>, String> {
        let entries = cfg.extra_section("Alerting");
        let get = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(listen) = get("listen") else {
            return Ok(None);
        };
        let listen: SocketAddr = listen.parse().map_err(|_| {
            format!("[Alerting] listen={listen:?}: give an address and port, e.g. 127.0.0.1:9095")
        })?;
        let token = get("token");
        if token.is_none() && !listen.ip().is_loopback() {
            return Err(format!(
                "[Alerting] listen={listen} is not a loopback address: set token= (callers then \
                 send Authorization: Bearer TOKEN)"
            ));
        }
        let mut routes = Vec::new();
        for (key, value) in &entries {
            if !key.to_ascii_lowercase().starts_with("route") {
                continue;
            }
            let mut words = value.split_whitespace();
            let matcher = words.next().unwrap_or("");
            let Some((label, want)) = matcher.split_once('=') else {
                return Err(format!(
                    "[Alerting] {key}={value:?}: give LABEL=VALUE TARGET..., e.g. team=db 300"
                ));
            };
            let targets: Vec<String> = words.map(str::to_string).collect();
            if targets.is_empty() {
                return Err(format!("[Alerting] {key}: no target after {matcher}"));
            }
            routes.push(Route {
                label: label.to_string(),
                value: want.to_string(),
                targets,
            });
        }
        let targets: Vec<String> = get("targets")
            .map(|t| t.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if targets.is_empty() && routes.is_empty() {
            return Err("[Alerting] has no targets= and no route: say whom to call".into());
        }
        let mut options = Vec::new();
        for (key, flag) in [
            ("ack", "--ack"),
            ("repeat", "--repeat"),
            ("timeout", "--timeout"),
            ("retries", "--retries"),
            ("retryDelay", "--retry-delay"),
        ] {
            if let Some(v) = get(key) {
                options.push(flag.to_string());
                options.push(v);
            }
        }
        if get("parallel").is_some_and(|v| v != "0") {
            options.push("--parallel".into());
        }
        // The options are checked now, with a placeholder target.
        let mut check = vec!["x".to_string()];
        check.extend(options.iter().cloned());
        AlertSpec::parse(&check).map_err(|e| format!("[Alerting]: {e}"))?;
        Ok(Some(AlertingSettings {
            listen,
            token,
            targets,
            routes,
            options,
        }))
    }

    /// The targets for a group with `labels`.
    fn targets_for(&self, labels: &Value) -> Vec<String> {
        self.routes
            .iter()
            .find(|r| labels[&r.label].as_str() == Some(r.value.as_str()))
            .map(|r| r.targets.clone())
            .unwrap_or_else(|| self.targets.clone())
    }
}

/// What the receiver asks of the main loop.
#[derive(Debug)]
pub enum AlertingRequest {
    /// Start alert `id` (unless one with that id is in progress).
    Start {
        id: String,
        spec: AlertSpec,
        prompt: Sound,
    },
    /// Call alert `id` off.
    Cancel { id: String },
}

/// What `GET /status` shows; kept up to date by the main loop.
pub type Status = Arc<Mutex<Vec<Value>>>;

/// A reply: status and JSON body.
type Answer = (u16, Value);

fn bad(reason: impl Into<String>) -> Answer {
    (400, json!({ "error": reason.into() }))
}

/// What a request leads to after the answer: start alert `id` (saying `text` unless the
/// spec names a prompt), or call it off.
#[derive(Debug)]
pub struct Work {
    pub id: String,
    pub start: bool,
    pub spec: AlertSpec,
    pub text: String,
}

/// Turns an Alertmanager payload (version 4) into the answer and the work for the loop.
pub fn alertmanager(settings: &AlertingSettings, body: &Value) -> Result<(Answer, Work), Answer> {
    if body["version"].as_str() != Some("4") {
        return Err(bad("not an Alertmanager webhook payload of version \"4\""));
    }
    let group = body["groupKey"]
        .as_str()
        .filter(|g| !g.is_empty())
        .ok_or_else(|| bad("groupKey is missing"))?;
    let alerts = body["alerts"]
        .as_array()
        .ok_or_else(|| bad("alerts is not a list"))?;
    let firing = match body["status"].as_str() {
        Some("firing") => true,
        Some("resolved") => false,
        _ => return Err(bad("status is neither \"firing\" nor \"resolved\"")),
    };
    let id = format!("am:{group}");
    if !firing {
        let answer = (200, json!({ "alert": id, "cancelled": true }));
        let work = Work {
            id,
            start: false,
            spec: AlertSpec::default(),
            text: String::new(),
        };
        return Ok((answer, work));
    }
    let first = alerts.first().cloned().unwrap_or(Value::Null);
    let text = [
        &body["commonAnnotations"]["summary"],
        &first["annotations"]["summary"],
        &body["commonAnnotations"]["description"],
        &body["commonLabels"]["alertname"],
        &first["labels"]["alertname"],
    ]
    .iter()
    .find_map(|v| v.as_str().filter(|s| !s.trim().is_empty()))
    .unwrap_or("An alert is firing.")
    .to_string();
    let labels = if body["commonLabels"].is_object() {
        &body["commonLabels"]
    } else {
        &first["labels"]
    };
    let targets = settings.targets_for(labels);
    if targets.is_empty() {
        return Err(bad(
            "no route matches the group's labels and targets= is empty",
        ));
    }
    let mut args = targets;
    args.extend(settings.options.iter().cloned());
    let spec = AlertSpec::parse(&args).map_err(bad)?;
    let answer = (200, json!({ "alert": id, "calling": spec.targets }));
    let work = Work {
        id,
        start: true,
        spec,
        text,
    };
    Ok((answer, work))
}

/// `POST /call`: `{"targets": [...], "say": "...", "play": "/path.wav", "ack": "1"}`.
pub fn call(
    settings: &AlertingSettings,
    body: &Value,
    id: String,
) -> Result<(Answer, AlertSpec), Answer> {
    let targets: Vec<String> = body["targets"]
        .as_array()
        .ok_or_else(|| bad("targets is missing (a list of numbers or SIP URIs)"))?
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("targets holds a non-string"))
        })
        .collect::<Result<_, _>>()?;
    let mut args = targets;
    args.extend(settings.options.iter().cloned());
    for (field, flag) in [("say", "--say"), ("play", "--play"), ("ack", "--ack")] {
        match &body[field] {
            Value::Null => {}
            Value::String(v) => {
                args.push(flag.to_string());
                args.push(v.clone());
            }
            _ => return Err(bad(format!("{field} is not a string"))),
        }
    }
    let spec = AlertSpec::parse(&args).map_err(bad)?;
    Ok(((202, json!({ "alert": id, "calling": spec.targets })), spec))
}

/// Starts the server thread; requests go to `to_main`.
pub fn start(
    settings: AlertingSettings,
    to_main: Sender<AlertingRequest>,
    status: Status,
) -> Result<std::thread::JoinHandle<()>, String> {
    let server = tiny_http::Server::http(settings.listen)
        .map_err(|e| format!("[Alerting] listen={}: {e}", settings.listen))?;
    log::info!("alerting: HTTP receiver on http://{}", settings.listen);
    std::thread::Builder::new()
        .name("alerting".into())
        .spawn(move || {
            let mut next = 0u64;
            for request in server.incoming_requests() {
                next += 1;
                serve(&settings, request, &to_main, &status, next);
            }
        })
        .map_err(|e| format!("alerting: {e}"))
}

fn respond(request: tiny_http::Request, (code, body): Answer) {
    let header =
        tiny_http::Header::from_bytes("Content-Type", "application/json").expect("a valid header");
    let _ = request.respond(
        tiny_http::Response::from_string(body.to_string())
            .with_status_code(code)
            .with_header(header),
    );
}

fn serve(
    settings: &AlertingSettings,
    mut request: tiny_http::Request,
    to_main: &Sender<AlertingRequest>,
    status: &Status,
    n: u64,
) {
    if let Some(token) = &settings.token {
        let authorized = request.headers().iter().any(|h| {
            h.field.equiv("Authorization") && h.value.as_str() == format!("Bearer {token}")
        });
        if !authorized {
            return respond(
                request,
                (401, json!({ "error": "a bearer token is required" })),
            );
        }
    }
    let method = request.method().clone();
    let path = request.url().split('?').next().unwrap_or("").to_string();
    if method == tiny_http::Method::Get && path == "/status" {
        let alerts = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        return respond(request, (200, json!({ "alerts": alerts })));
    }
    if method != tiny_http::Method::Post {
        return respond(
            request,
            (405, json!({ "error": "use POST (or GET /status)" })),
        );
    }
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body);
    if read.is_err() {
        return respond(request, bad("the body could not be read"));
    }
    if body.len() > MAX_BODY {
        return respond(request, (413, json!({ "error": "the body is over 1 MiB" })));
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return respond(request, bad("the body is not JSON"));
    };
    let (answer, work) = match path.as_str() {
        "/alertmanager" | "/" => match alertmanager(settings, &value) {
            Ok((answer, work)) => (answer, work),
            Err(answer) => return respond(request, answer),
        },
        "/call" => match call(settings, &value, format!("http:{n}")) {
            Ok((answer, spec)) => {
                let text = match &spec.prompt {
                    PromptSource::Say(t) => t.clone(),
                    _ => String::new(),
                };
                let id = answer.1["alert"].as_str().unwrap_or_default().to_string();
                (
                    answer,
                    Work {
                        id,
                        start: true,
                        spec,
                        text,
                    },
                )
            }
            Err(answer) => return respond(request, answer),
        },
        _ => {
            return respond(
                request,
                (404, json!({ "error": "use /alertmanager or /call" })),
            )
        }
    };
    // Answer first: the prompt is made and the call placed after.
    respond(request, answer);
    let Work {
        id,
        start,
        mut spec,
        text,
    } = work;
    if !start {
        let _ = to_main.send(AlertingRequest::Cancel { id });
        return;
    }
    if spec.prompt == PromptSource::Tone && !text.is_empty() {
        spec.prompt = PromptSource::Say(text);
    }
    match Sound::prompt(&spec.prompt).or_else(|e| {
        log::warn!("alert {id}: {e}; it plays the alert tone instead");
        Sound::prompt(&PromptSource::Tone)
    }) {
        Ok(prompt) => {
            let _ = to_main.send(AlertingRequest::Start { id, spec, prompt });
        }
        Err(e) => log::warn!("alert {id}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AlertingSettings {
        AlertingSettings {
            listen: "127.0.0.1:9095".parse().unwrap(),
            token: None,
            targets: vec!["100".into()],
            routes: vec![Route {
                label: "team".into(),
                value: "db".into(),
                targets: vec!["300".into(), "301".into()],
            }],
            options: vec!["--retries".into(), "2".into()],
        }
    }

    fn payload(status: &str, team: &str) -> Value {
        json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"DiskFull\"}",
            "status": status,
            "receiver": "phone",
            "groupLabels": { "alertname": "DiskFull" },
            "commonLabels": { "alertname": "DiskFull", "team": team },
            "commonAnnotations": { "summary": "Disk full on db1" },
            "externalURL": "http://am",
            "alerts": [{ "status": status, "labels": { "alertname": "DiskFull" },
                         "annotations": { "summary": "Disk full on db1" } }]
        })
    }

    #[test]
    fn a_firing_group_is_routed_by_its_labels_and_says_its_summary() {
        let s = settings();
        let (answer, work) = alertmanager(&s, &payload("firing", "db")).unwrap();
        assert_eq!(answer.0, 200);
        assert!(work.start && work.id.starts_with("am:"));
        assert_eq!(work.spec.targets, ["300", "301"]);
        assert_eq!(work.spec.retries, 2);
        assert_eq!(work.text, "Disk full on db1");
        let (_, web) = alertmanager(&s, &payload("firing", "web")).unwrap();
        assert_eq!(web.spec.targets, ["100"], "no route: the default targets");
        let (_, resolved) = alertmanager(&s, &payload("resolved", "db")).unwrap();
        assert!(!resolved.start);
        assert_eq!(resolved.id, work.id, "resolved names the same alert");
    }

    #[test]
    fn malformed_payloads_get_400_with_the_reason() {
        let s = settings();
        for (body, why) in [
            (json!({}), "version"),
            (
                json!({"version": "4", "status": "firing", "alerts": []}),
                "groupKey",
            ),
            (
                json!({"version": "4", "groupKey": "g", "status": "odd", "alerts": []}),
                "status",
            ),
            (
                json!({"version": "4", "groupKey": "g", "status": "firing"}),
                "alerts",
            ),
        ] {
            let (code, reply) = alertmanager(&s, &body).unwrap_err();
            assert_eq!(code, 400);
            assert!(reply["error"].as_str().unwrap().contains(why), "{reply}");
        }
        let (code, reply) = call(&s, &json!({"say": "x"}), "i".into()).unwrap_err();
        assert_eq!(code, 400);
        assert!(reply["error"].as_str().unwrap().contains("targets"));
        let (answer, spec) = call(
            &s,
            &json!({"targets": ["200"], "say": "hi", "ack": "5"}),
            "i".into(),
        )
        .unwrap();
        assert_eq!(answer.0, 202);
        assert_eq!(spec.ack, "5");
    }
}
