#[tokio::main]
async fn main() {
    let code = tagfusion::cli::main().await;
    std::process::exit(code);
}
