//! Health, readiness and metrics.

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let story = app.seed_story().await;
    let health: serde_json::Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready: serde_json::Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["models"], 2);
    assert!(ready["snapshot_seq"].as_u64().unwrap() > 10);

    assert_eq!(app.chat(&story.acme_key, "workhorse", None, "hi").await.0, 200);
    assert_eq!(app.chat(&story.globex_key, "frontier", None, "hi").await.0, 403);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"portcullis_gate_requests_total{model="workhorse",outcome="allowed"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"portcullis_gate_requests_total{model="frontier",outcome="grant_required"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_decision_seconds_count 2"), "{metrics}");
    assert!(metrics.contains(r#"portcullis_upstream_seconds_count{model="workhorse"} 1"#), "{metrics}");
    // No secret ever appears in metrics.
    assert!(!metrics.contains(&story.acme_key));
}
