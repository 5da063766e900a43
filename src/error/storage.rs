//! One clear line for an object-store failure. The object_store and delta-rs messages carry
//! the whole request chain (method, URL, retries, the HTTP body); the person at the keyboard
//! needs to know which of a few things is wrong and what to check.

/// A one-line explanation of an S3 failure in `message`, or `None` when it is not one.
pub fn explain(message: &str) -> Option<String> {
    let endpoint = endpoint_of(message);
    let at = endpoint
        .as_deref()
        .map(|e| format!(" at {e}"))
        .unwrap_or_default();
    let has = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if has(&["NoSuchBucket", "The specified bucket does not exist"]) {
        let bucket = bucket_of(message)
            .map(|b| format!(" '{b}'"))
            .unwrap_or_default();
        return Some(format!(
            "S3 bucket{bucket} does not exist{at}: create it, or fix the bucket in the location \
             (and AWS_ENDPOINT_URL / AWS_REGION if it lives elsewhere)"
        ));
    }
    for code in [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AccessDenied",
    ] {
        if message.contains(code) {
            return Some(format!(
                "S3{at} refused the request ({code}): check AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (or the table's aws.* options) \
                 and that they may use this bucket"
            ));
        }
    }
    if has(&[
        "error sending request",
        "Connection refused",
        "connection refused",
        "tcp connect error",
        "dns error",
        "connection closed before message completed",
        "Connection reset",
        "operation timed out",
    ]) && (has(&["S3", "s3", "object store", "ObjectStore"]) || endpoint.is_some())
    {
        return Some(format!(
            "cannot reach S3{at} (gave up after the retries TAGFUSION_S3_MAX_RETRIES allows): \
             check AWS_ENDPOINT_URL and that the server is up, then run the statement again"
        ));
    }
    None
}

/// `scheme://host[:port]` of the first URL in a message.
fn endpoint_of(message: &str) -> Option<String> {
    for scheme in ["http://", "https://"] {
        if let Some(start) = message.find(scheme) {
            let rest = &message[start + scheme.len()..];
            let end = rest.find(['/', ')', ' ', ',', '"']).unwrap_or(rest.len());
            return Some(format!("{scheme}{}", &rest[..end]));
        }
    }
    None
}

/// The bucket of an S3 error body (`<BucketName>…</BucketName>`).
fn bucket_of(message: &str) -> Option<String> {
    let start = message.find("<BucketName>")? + "<BucketName>".len();
    let end = message[start..].find("</BucketName>")? + start;
    Some(message[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_the_common_failures_in_one_line() {
        let refused = "Generic S3 error: Error after 5 retries in 1.2s, max_retries:5, \
             retry_timeout:60s, source:error sending request for url \
             (http://127.0.0.1:9/bucket/wh/_delta_log/)";
        let line = explain(refused).expect("explained");
        assert!(
            line.starts_with("cannot reach S3 at http://127.0.0.1:9 "),
            "{line}"
        );
        assert!(!line.contains('\n'));

        let bucket = "Client error with status 404 Not Found: <Error><Code>NoSuchBucket</Code>\
             <Message>The specified bucket does not exist</Message><BucketName>nope</BucketName></Error>";
        let line = explain(bucket).expect("explained");
        assert!(
            line.starts_with("S3 bucket 'nope' does not exist"),
            "{line}"
        );

        let creds = "Client error with status 403 Forbidden: <Code>InvalidAccessKeyId</Code>";
        assert!(
            explain(creds)
                .expect("explained")
                .contains("InvalidAccessKeyId")
        );

        assert_eq!(explain("column 'x' not found"), None);
    }
}
