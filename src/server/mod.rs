//! `tagfusion serve`: the Arrow Flight SQL server (SPEC §5) — BI tools and notebooks use
//! entities, tags, segments and personas over the same parser and engine as the CLI.
//!
//! - [`users`]: the users file (`--users`, Argon2 hashes) and `tagfusion user add`;
//! - [`auth`]: handshake (Basic) → expiring bearer tokens;
//! - [`service`]: the Flight SQL calls (statements, prepared statements, metadata);
//! - [`metadata`]: GetSqlInfo, XDBC types, catalogs, schemas, tables, primary keys.
//!
//! Roles are enforced by the engine ([`crate::engine::Principal`]): each call runs as its user.

pub mod auth;
pub mod metadata;
pub mod service;
pub mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// How often the server looks for catalog changes made by other processes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// How `tagfusion serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub users: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub token_ttl: Duration,
    pub min_group_size: u64,
    /// Draft tags read as NULL for analysts and viewers.
    pub hide_drafts: bool,
    pub limits: service::Limits,
}

/// The service over `engine`, ready to be served by tonic (tests serve it on their own port).
pub fn flight_service(
    engine: Arc<Engine>,
    options: &ServeOptions,
) -> Result<FlightServiceServer<service::TagFusionService>> {
    let users = match &options.users {
        Some(path) => Some(users::UsersFile::load(path)?),
        None => {
            if !options.addr.ip().is_loopback() {
                return Err(Error::invalid(format!(
                    "refusing to listen on {} without --users: anyone could connect as admin. \
                     Create users with `tagfusion user add NAME --role admin|analyst|viewer` and \
                     pass --users FILE, or listen on 127.0.0.1",
                    options.addr
                )));
            }
            None
        }
    };
    let auth = Arc::new(auth::Auth::new(
        users,
        options.token_ttl,
        options.min_group_size,
        options.hide_drafts,
    ));
    let service = service::TagFusionService::new(engine, auth, options.limits.clone());
    // Large parameter batches and results: 64 MiB messages.
    Ok(FlightServiceServer::new(service)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}

/// Serves until Ctrl-C. Tag usage is written to `tagfusion.usage` every minute and at the end.
pub async fn serve(engine: Arc<Engine>, options: ServeOptions) -> Result<()> {
    let service = flight_service(engine.clone(), &options)?;
    let mut builder = Server::builder();
    if let Some((cert, key)) = &options.tls {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| Error::io(format!("cannot read {}", p.display()), e))
        };
        // Both rustls back ends are linked (object stores use one, tonic the other): pick one.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
        builder = builder
            .tls_config(tls)
            .map_err(|e| Error::invalid(format!("TLS: {e}")))?;
    }
    // Usage counts are written every minute; what other processes commit (a scheduled
    // `tagfusion run` refreshing profiles) is picked up within seconds.
    let flusher = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = engine.flush_usage().await {
                    tracing::warn!("tag usage not written: {e}");
                }
            }
        })
    };
    let reloader = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = engine.reload_if_changed().await {
                    tracing::warn!("cannot reload the catalog: {e}");
                }
            }
        })
    };
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {}", options.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listening address", e))?;
    tracing::info!(
        "TagFusion Flight SQL server listening on {}://{addr} (warehouse {}){}",
        if options.tls.is_some() {
            "grpc+tls"
        } else {
            "grpc"
        },
        engine.warehouse().root(),
        if options.users.is_none() {
            "; no --users: loopback only, everyone is admin"
        } else {
            ""
        }
    );
    let result = builder
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await
        .map_err(|e| Error::invalid(format!("cannot serve on {addr}: {e}")));
    flusher.abort();
    reloader.abort();
    engine.flush_usage().await?;
    result
}
