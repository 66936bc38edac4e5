//! Attribution on recorded traces: who acted in each event of a node-gyp build, an
//! import through airlock's harness, and a dropper.
#![allow(clippy::unwrap_used)]

use airlock_events::{Actor, Trace};
use airlock_rules::attribute_trace;
use airlock_rules::fixtures::parse_fixture;

fn attributed(text: &str) -> Vec<(String, Actor)> {
    let (header, recs) = parse_fixture(None, text).unwrap();
    let events = recs
        .into_iter()
        .filter_map(|r| match r {
            airlock_events::Record::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    let mut t = Trace {
        header,
        events,
        footer: None,
    };
    attribute_trace(&mut t, &["registry.npmjs.org".to_string()]);
    t.events
        .iter()
        .map(|e| {
            let what = match &e.kind {
                airlock_events::EventKind::ProcessExec { argv, .. } => argv.join(" "),
                k => k.type_name().to_string(),
            };
            (what, e.actor.unwrap())
        })
        .collect()
}

#[test]
fn node_gyp_build_is_the_toolchain_and_a_gyp_action_is_the_package() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/false-alarms/gyp-action-curl-sh.jsonl"
    ))
    .unwrap();
    let a = attributed(&text);
    let actor = |prefix: &str| {
        a.iter()
            .find(|(w, _)| w.starts_with(prefix))
            .map(|(_, x)| *x)
            .unwrap_or_else(|| panic!("{prefix}: {a:?}"))
    };
    assert_eq!(actor("sh -c npm ci"), Actor::Toolchain);
    assert_eq!(actor("sh -c node-gyp rebuild"), Actor::Toolchain);
    assert_eq!(actor("node /usr/share/nodejs/node-gyp"), Actor::Toolchain);
    assert_eq!(actor("make"), Actor::Toolchain);
    assert_eq!(actor("/bin/sh -c curl"), Actor::Package);
}

#[test]
fn the_import_harness_hosts_the_package_but_its_own_calls_are_harness() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/false-alarms/attrs-compile-and-harness-subprocess.jsonl"
    ))
    .unwrap();
    let a = attributed(&text);
    let kinds: Vec<Actor> = a.iter().map(|(_, x)| *x).collect();
    assert_eq!(
        kinds,
        vec![
            Actor::Harness, // exec of import-py.py
            Actor::Harness, // its subprocess.Popen (caller import-py.py)
            Actor::Package, // process.start of the child
            Actor::Harness, // exec of import-py.py --one
            Actor::Package, // compile by the package's _make.py
            Actor::Package, // exec
            Actor::Package, // exit
            Actor::Harness, // subprocess.Popen of `python -c pass`
            Actor::Package, // process.start
            Actor::Harness, // exec of `python -c pass`
        ],
        "{a:?}"
    );
}

#[test]
fn a_downloaded_file_and_what_it_starts_are_dropped() {
    let a = attributed(
        r#"
{"type":"process.exec","path":"/usr/bin/node","argv":["node","i.js"],"cwd":"/home/runner/project/node_modules/fixture-pkg","proc":{"pid":301,"ppid":300,"exe":"node","lifecycle":"postinstall"}}
{"type":"file.open","path":"/tmp/x","flags":"O_WRONLY|O_CREAT","write":true,"create":true,"proc":{"pid":301,"exe":"node","lifecycle":"postinstall"}}
{"type":"process.exec","path":"/tmp/x","argv":["/tmp/x"],"proc":{"pid":302,"ppid":301,"exe":"x","lifecycle":"postinstall"}}
{"type":"process.exec","path":"/usr/bin/cc","argv":["cc","/tmp/y.c"],"proc":{"pid":303,"ppid":302,"exe":"cc","lifecycle":"postinstall"}}
{"type":"file.open","path":"/home/runner/.bashrc","flags":"O_WRONLY|O_APPEND","write":true,"proc":{"pid":302,"exe":"x","lifecycle":"postinstall"}}
{"type":"http.request","method":"GET","url":"https://registry.npmjs.org/left-pad"}
"#,
    );
    let kinds: Vec<Actor> = a.iter().map(|(_, x)| *x).collect();
    assert_eq!(
        kinds,
        vec![
            Actor::Package,
            Actor::Package,
            Actor::Dropped,
            Actor::Toolchain, // a compiler on a file nobody of the package wrote
            Actor::Dropped,
            Actor::Toolchain, // npm's registry traffic in the install phase
        ],
        "{a:?}"
    );
}

/// The engine stamps events with the built-in registry list; judging uses the rules'
/// list. They must be the same, or a stored trace's actors would change on re-judge.
#[test]
fn the_engine_and_the_rules_know_the_same_registries() {
    let rules = airlock_rules::Ruleset::load_dir(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules"),
    )
    .unwrap_or_else(|e| panic!("{}", airlock_rules::Diagnostics(&e)));
    let mut list: Vec<&str> = rules
        .list(airlock_rules::MANAGER_HOSTS_LIST)
        .unwrap()
        .iter()
        .map(String::as_str)
        .collect();
    let mut built_in = airlock_events::attribution::DEFAULT_MANAGER_HOSTS.to_vec();
    list.sort();
    built_in.sort();
    assert_eq!(list, built_in);
}

#[test]
fn npm_run_by_the_install_helper_is_the_toolchain_through_its_env_shebang() {
    // Recorded in the sandbox: `install-npm` runs `npm ci`, whose `env node` shebang makes
    // the same process exec again as `node /usr/bin/npm ci …`; npm then reads ~/.npmrc.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/false-alarms/npm-ci-env-shebang.jsonl"
    ))
    .unwrap();
    let a = attributed(&text);
    let kinds: Vec<Actor> = a.iter().map(|(_, x)| *x).collect();
    assert_eq!(
        kinds,
        vec![
            Actor::Harness,   // exec of /usr/local/lib/devtools/bin/install-npm
            Actor::Toolchain, // npm ci
            Actor::Toolchain, // node /usr/bin/npm ci (the shebang's re-exec)
            Actor::Toolchain, // open ~/.npmrc
            Actor::Toolchain, // secret.read of it
        ],
        "{a:?}"
    );
}
