fn main() {
    let code = match tagfusion::runtime::block_on(tagfusion::cli::main) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
