//! --version, features, spec, --log/--log-format json.

use integration::{env, looks_rfc3339, matrix, Ctx};
use serde_json::Value;

fn version_features_spec(ctx: &Ctx) {
    let out = ctx.rt(["--version"]).run().ok();
    assert!(!out.stdout.trim().is_empty(), "{out}");
    assert!(
        out.stdout.chars().any(|c| c.is_ascii_digit()),
        "no version number: {out}"
    );

    let out = ctx.rt(["features"]).run().ok();
    let v = out.json();
    assert!(
        v["ociVersionMin"].is_string() && v["ociVersionMax"].is_string(),
        "{out}"
    );

    // spec --bundle DIR, rootless and not
    let d = ctx.mkdir("specdir");
    ctx.rt(["spec", "--rootless", "--bundle", &d.to_string_lossy()])
        .run()
        .ok();
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    assert!(s["ociVersion"].is_string());
    assert_eq!(s["root"]["path"], "rootfs");
    let ns: Vec<&str> = s["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(
        ns.contains(&"user"),
        "a rootless spec has a user namespace: {ns:?}"
    );
    assert!(
        !ns.contains(&"network"),
        "a rootless spec uses the host network: {ns:?}"
    );
    let (uid, _) = ctx.ids_of_runtime();
    assert_eq!(
        s["linux"]["uidMappings"][0]["hostID"], uid,
        "maps container root to the caller"
    );
    assert_eq!(
        s["linux"]["uidMappings"][0]["size"], 1,
        "a single-ID mapping (no subuid)"
    );

    // spec refuses to overwrite
    let out = ctx
        .rt(["spec", "--rootless", "--bundle", &d.to_string_lossy()])
        .run();
    out.assert_clean_error(&["exist"]);
}
matrix!(version_features_spec: user, root);

/// `hack/busybox-bundle.sh --spec DIR` as the user builds a bundle that runs.
fn busybox_bundle_script(ctx: &Ctx) {
    let dir = ctx.path("bb");
    let out = ctx
        .sh_cmd(["bash", "-s", "--", "--spec"])
        .arg(dir.to_string_lossy())
        .env("RLRT", &env().bin.to_string_lossy())
        .stdin(env().bundle_script.clone())
        .run()
        .ok();
    assert!(
        dir.join("config.json").is_file(),
        "--spec wrote no config.json: {out}"
    );
    for f in ["bin/busybox", "bin/sh", "etc/passwd", "etc/group"] {
        assert!(dir.join("rootfs").join(f).exists(), "rootfs lacks {f}");
    }
    let (uid, _) = ctx.ids_of_runtime();
    let md = std::fs::metadata(dir.join("rootfs/bin/busybox")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&md),
        uid,
        "bundle not owned by the user"
    );
    let b = integration::Bundle { path: dir };
    b.edit(|v| {
        v["process"]["terminal"] = serde_json::json!(false);
        v["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "grep -c root /etc/passwd; ls /bin /sbin /usr/bin /usr/sbin | wc -l"
        ]);
    });
    let id = ctx.id();
    let out = ctx
        .rt(["run", "--bundle", &b.path.to_string_lossy(), &id])
        .run()
        .ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("1"), "{out}");
    let applets: usize = lines.next().unwrap_or("0").trim().parse().unwrap_or(0);
    assert!(applets > 200, "busybox applets missing: {out}");
}
matrix!(busybox_bundle_script: user);

/// `--log FILE --log-format json`: JSON lines containerd can parse, the last
/// error line carrying `msg` and an RFC3339 `time`.
fn log_json(ctx: &Ctx) {
    let log = ctx.path("log.json");
    let out = ctx
        .rt(["state", "does-not-exist-1"])
        .global(["--log", &log.to_string_lossy(), "--log-format", "json"])
        .run();
    assert!(!out.success(), "{out}");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("no log file ({e}): {out}"));
    let mut last_error = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}"));
        assert!(
            v["level"].is_string() && v["msg"].is_string(),
            "log line lacks level/msg: {line}"
        );
        if let Some(t) = v.get("time") {
            assert!(
                looks_rfc3339(t.as_str().unwrap_or("")),
                "time is not RFC3339: {line}"
            );
        }
        if v["level"] == "error" {
            last_error = Some(v);
        }
    }
    let e = last_error.unwrap_or_else(|| panic!("no level=error line in {text:?}"));
    assert!(
        e["msg"].as_str().unwrap().contains("does not exist"),
        "error msg: {e}"
    );
    assert!(e.get("time").is_some(), "error line has no time: {e}");

    // appended, not truncated
    let n = text.lines().count();
    let _ = ctx
        .rt(["state", "does-not-exist-2"])
        .global(["--log", &log.to_string_lossy(), "--log-format", "json"])
        .run();
    let text2 = std::fs::read_to_string(&log).unwrap();
    assert!(
        text2.lines().count() > n && text2.starts_with(&text),
        "log must be appended to"
    );
}
matrix!(log_json: user, user_cgv2, root);
