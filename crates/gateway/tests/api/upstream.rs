//! The gateway's connections to an upstream: kept alive and reused from one request to the next,
//! answers whole or streamed, and given up when the upstream closes them.

use serde_json::{Value, json};

use crate::failover::{set_deployments, setup};
use crate::helpers::TestApp;
use crate::mock_upstream::{MockUpstream, Mode};

/// A chat completion to `workhorse`, whole or streamed; returns the status and the body's text.
async fn chat(app: &TestApp, key: &str, stream: bool) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({ "model": "workhorse", "stream": stream, "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// What the mock said, from a whole answer or from the chunks of a stream.
fn reply(body: &str, stream: bool) -> String {
    if !stream {
        let body: Value = serde_json::from_str(body).unwrap();
        return body["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| {
            serde_json::from_str::<Value>(data).unwrap()["choices"][0]["delta"]["content"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn one_upstream_connection_serves_request_after_request() {
    let (app, story) = setup(|_| {}).await;
    let mock = MockUpstream::start_killable().await;
    set_deployments(&app, "workhorse", &[("a", &mock)]).await;
    let kinds = [false, true, false, true, true, false];
    for stream in kinds {
        let (status, body) = chat(&app, &story.acme_key, stream).await;
        assert_eq!(status, 200, "{body}");
        let want = if stream { "one two three" } else { "mock reply to hi" };
        assert_eq!(reply(&body, stream), want);
    }
    assert_eq!(mock.count(), kinds.len());
    // Each answer was read to its end, so its connection went back for the next request.
    assert_eq!(mock.connections(), 1);
}

#[tokio::test]
async fn an_upstream_that_closes_each_connection_still_answers_every_request() {
    let (app, story) = setup(|_| {}).await;
    let mock = MockUpstream::start_killable().await;
    set_deployments(&app, "workhorse", &[("a", &mock)]).await;
    mock.set_mode(Mode::Closing);
    for stream in [false, true, false] {
        let (status, body) = chat(&app, &story.acme_key, stream).await;
        assert_eq!(status, 200, "{body}");
    }
    // `Connection: close` each time: never reused, a new connection for every request.
    assert_eq!(mock.connections(), 3);
    mock.set_mode(Mode::Normal);
    for _ in 0..2 {
        assert_eq!(chat(&app, &story.acme_key, false).await.0, 200);
    }
    assert_eq!(mock.connections(), 4);
}
