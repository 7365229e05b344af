//! HTTP responses of the fake API server, shaped like the real one's.

use super::Body;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

pub(super) fn json_response(code: StatusCode, v: &Value) -> Response<Body> {
    let mut r =
        Response::new(Full::new(Bytes::from(serde_json::to_vec(v).unwrap())).boxed_unsync());
    *r.status_mut() = code;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    r
}

pub(super) fn text(code: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed_unsync());
    *r.status_mut() = code;
    r
}

pub(super) fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    json_response(
        StatusCode::from_u16(code).unwrap(),
        &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message, "reason": reason, "code": code }),
    )
}

pub(super) fn not_found(name: &str) -> Response<Body> {
    status(404, "NotFound", &format!("\"{name}\" not found"))
}
