//! The layers point one way, and only the app layer reaches the store: the console, the API,
//! the command line (and later SCIM and OpenID Connect) go through use cases.

use std::collections::BTreeMap;
use std::process::Command;

/// Each workspace crate's normal (not dev) dependencies on other workspace crates, with the
/// features it enables on them.
fn workspace_dependencies() -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter(|d| members.iter().any(|m| m == d["name"].as_str().unwrap()))
                .map(|d| {
                    let features = d["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f.as_str().unwrap().to_string())
                        .collect();
                    (d["name"].as_str().unwrap().to_string(), features)
                })
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

#[test]
fn only_the_app_layer_depends_on_the_store() {
    let all = workspace_dependencies();
    assert!(all.contains_key("rollcall-web"), "{all:?}");
    for (krate, deps) in &all {
        for (dep, features) in deps {
            assert!(
                dep != "rollcall-store" || krate == "rollcall-app",
                "{krate} depends on rollcall-store: front ends call use cases of rollcall-app instead"
            );
            assert!(
                !(dep == "rollcall-app" && features.iter().any(|f| f == "testing"))
                    || krate == "rollcall-bench",
                "{krate} enables rollcall-app's testing feature, which opens the store: only tests and benchmarks may"
            );
        }
    }
}

#[test]
fn dependencies_point_one_way() {
    let layer = |name: &str| match name {
        "rollcall-domain" => 0,
        "rollcall-store" => 1,
        "rollcall-app" => 2,
        "rollcall-web" => 3,
        "rollcall" => 4,
        _ => 5,
    };
    for (krate, deps) in workspace_dependencies() {
        for (dep, _) in deps {
            assert!(
                layer(&dep) < layer(&krate),
                "{krate} depends on {dep}, a layer above or beside it"
            );
        }
    }
}
