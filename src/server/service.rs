//! The Flight SQL service: every call authenticates, runs as its user through the same parser
//! and engine as the CLI, and streams results batch by batch.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::ScalarValue;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Request, Response, Status, Streaming};
use uuid::Uuid;

use super::auth::Auth;
use super::metadata;
use crate::access::{Principal, Role};
use crate::diagnostic::Script;
use crate::engine::{Engine, Output};
use crate::error::Error;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Limits that keep one client from starving the others.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Statements running (or streaming results) at once; more wait up to `queue_wait`.
    pub max_concurrent: usize,
    pub queue_wait: Duration,
    /// Longest a statement may run, results streaming included.
    pub query_timeout: Option<Duration>,
}

/// A result waiting for its DoGet.
struct Pending {
    owner: String,
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    permit: OwnedSemaphorePermit,
    deadline: Option<Instant>,
    created: Instant,
}

/// A prepared statement: its text and the parameters bound last.
struct Prepared {
    owner: String,
    sql: String,
    params: Option<RecordBatch>,
}

/// Results not fetched within this time are dropped (their permits released).
const PENDING_TTL: Duration = Duration::from_secs(300);

pub struct TagFusionService {
    engine: Arc<Engine>,
    auth: Arc<Auth>,
    limits: Limits,
    running: Arc<Semaphore>,
    results: Mutex<HashMap<Uuid, Pending>>,
    prepared: Mutex<HashMap<Uuid, Prepared>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Longest error message sent to a client, in characters.
const MAX_STATUS_CHARS: usize = 1_500;

/// An engine error as a gRPC status, with the message the CLI prints.
pub fn status(e: &Error, sql: &str) -> Status {
    let script = Script {
        name: "query".into(),
        text: sql.to_string(),
    };
    let text = crate::diagnostic::render_error(e, Some(&script));
    let text = text.strip_prefix("error: ").unwrap_or(&text).trim_end();
    // The message travels in an HTTP/2 trailer (percent-encoded, clients accept 16 KiB of
    // headers): past that the client sees a protocol error instead of the message.
    let text = match text.char_indices().nth(MAX_STATUS_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    };
    Status::new(code(e), text)
}

/// The gRPC code of an engine error, by its kind: the user's input, a refusal, the machine's
/// limits, or the warehouse / TagFusion itself.
fn code(e: &Error) -> Code {
    if e.is_resources_exhausted() {
        // Past the memory limit (`--memory-limit`) with nothing left to spill.
        return Code::ResourceExhausted;
    }
    match e {
        Error::At { source, .. } => code(source),
        Error::Parse { .. } | Error::Unknown { .. } | Error::Invalid(_) => Code::InvalidArgument,
        Error::Forbidden(_) => Code::PermissionDenied,
        Error::DataFusion(df) => datafusion_code(df),
        Error::Delta(_) | Error::Storage(_) | Error::Io { .. } => Code::Internal,
    }
}

fn datafusion_code(e: &datafusion::error::DataFusionError) -> Code {
    use datafusion::error::DataFusionError as D;
    match e.find_root() {
        // Past the memory limit (`--memory-limit`) with nothing left to spill.
        D::ResourcesExhausted(_) => Code::ResourceExhausted,
        // A TagFusion error inside a table function (a refusal, a bad argument).
        D::External(inner) => match inner.downcast_ref::<Error>() {
            Some(inner) => code(inner),
            None => Code::Internal,
        },
        D::Internal(_) | D::IoError(_) | D::ObjectStore(_) => Code::Internal,
        // Planning and execution errors of the statement: SQL, plan, schema, types, values.
        _ => Code::InvalidArgument,
    }
}

/// The schema clients see: dictionary columns arrive as their values (the encoder hydrates them).
fn flight_schema(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(_, value) => {
                    Field::new(f.name(), value.as_ref().clone(), f.is_nullable())
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

fn ipc_schema(schema: &Schema) -> Result<prost::bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(bytes)
}

/// The parameter batches a client sends with DoPut.
async fn read_parameters(
    request: Request<PeekableFlightDataStream>,
) -> Result<Vec<RecordBatch>, Status> {
    arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
        request.into_inner().map_err(FlightError::from),
    )
    .try_collect()
    .await
    .map_err(|e| Status::invalid_argument(format!("cannot read parameters: {e}")))
}

fn handle_id(bytes: &[u8]) -> Result<Uuid, Status> {
    Uuid::from_slice(bytes).map_err(|_| Status::invalid_argument("unknown statement handle"))
}

/// A result stream that holds its concurrency permit, ends with an error at its deadline, and
/// stops (cancelling the query) when the client goes away and tonic drops it.
struct Guarded {
    inner: SendableRecordBatchStream,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    _permit: OwnedSemaphorePermit,
    done: bool,
}

impl Stream for Guarded {
    type Item = Result<RecordBatch, FlightError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            self.done = true;
            return Poll::Ready(Some(Err(FlightError::Tonic(Box::new(
                Status::deadline_exceeded("the query ran past the server's query timeout"),
            )))));
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                let e = Error::from(e);
                Poll::Ready(Some(Err(FlightError::Tonic(Box::new(status(&e, ""))))))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            other => {
                other.map(|o| o.map(|r| r.map_err(|e| FlightError::ExternalError(Box::new(e)))))
            }
        }
    }
}

impl TagFusionService {
    pub fn new(engine: Arc<Engine>, auth: Arc<Auth>, limits: Limits) -> Self {
        Self {
            running: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            engine,
            auth,
            limits,
            results: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
        }
    }

    fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        self.auth.authenticate(request.metadata())
    }

    /// Drops results nobody fetched in time, releasing their slots.
    fn purge(&self) {
        let now = Instant::now();
        lock(&self.results)
            .retain(|_, p| p.created.elapsed() < PENDING_TTL && p.deadline.is_none_or(|d| d > now));
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.purge();
        match tokio::time::timeout(self.limits.queue_wait, self.running.clone().acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Status::resource_exhausted(format!(
                "the server is running {} statements; try again shortly",
                self.limits.max_concurrent
            ))),
        }
    }

    /// Parses `sql` (exactly one statement) and runs it as `principal`, within the timeout.
    async fn execute(
        &self,
        principal: &Principal,
        sql: &str,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<Output, Status> {
        let engine = self.engine.clone();
        let text = sql.to_string();
        let run = principal.clone().scope(async move {
            let mut statements = engine.parse(&text)?;
            if statements.len() != 1 {
                return Err(Error::invalid(format!(
                    "send one statement per request (got {})",
                    statements.len()
                )));
            }
            let statement = statements.remove(0);
            match params {
                Some(values) => engine.execute_with_params(&statement, values).await,
                None => engine.execute(&statement).await,
            }
        });
        let result = match self.limits.query_timeout {
            Some(t) => tokio::time::timeout(t, run).await.map_err(|_| {
                Status::deadline_exceeded("the statement ran past the server's query timeout")
            })?,
            None => run.await,
        };
        result.map_err(|e| status(&e, sql))
    }

    /// Runs a statement and keeps its result stream for the DoGet that fetches it.
    async fn start(
        &self,
        principal: &Principal,
        sql: &str,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<(Uuid, SchemaRef), Status> {
        let permit = self.permit().await?;
        let started = Instant::now();
        let output = self.execute(principal, sql, params).await?;
        let schema = flight_schema(&output.schema);
        let id = Uuid::new_v4();
        self.purge();
        let mut results = lock(&self.results);
        results.insert(
            id,
            Pending {
                owner: principal.name.clone(),
                schema: schema.clone(),
                stream: output.stream,
                permit,
                deadline: self.limits.query_timeout.map(|t| started + t),
                created: Instant::now(),
            },
        );
        Ok((id, schema))
    }

    fn flight_info(
        &self,
        id: Uuid,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(
            TicketStatementQuery {
                statement_handle: id.as_bytes().to_vec().into(),
            }
            .as_any()
            .encode_to_vec(),
        );
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// Info for a metadata command: the command itself is the ticket.
    fn metadata_info(
        &self,
        command: impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    fn batch_stream(
        schema: SchemaRef,
        batch: Result<RecordBatch, FlightError>,
    ) -> Response<BoxStream<arrow_flight::FlightData>> {
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async { batch }))
            .map_err(Status::from);
        Response::new(Box::pin(stream))
    }

    /// Runs a statement to the end and counts the rows it changed.
    async fn update(
        &self,
        principal: &Principal,
        sql: &str,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<i64, Status> {
        let _permit = self.permit().await?;
        let output = self.execute(principal, sql, params).await?;
        let counts = output.schema.fields().len() == 1
            && output.schema.field(0).name() == "count"
            && output.schema.field(0).data_type() == &DataType::UInt64;
        let batches: Vec<RecordBatch> = output
            .stream
            .try_collect()
            .await
            .map_err(|e| status(&Error::from(e), sql))?;
        Ok(if counts {
            batches
                .iter()
                .map(|b| {
                    let c = b.column(0).as_primitive::<UInt64Type>();
                    (0..c.len()).map(|i| c.value(i) as i64).sum::<i64>()
                })
                .sum()
        } else {
            0
        })
    }

    /// Parameter rows of a bound batch as scalar lists.
    fn parameter_rows(batch: &RecordBatch) -> Result<Vec<Vec<ScalarValue>>, Status> {
        (0..batch.num_rows())
            .map(|row| {
                batch
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, row))
                    .collect::<datafusion::error::Result<Vec<_>>>()
                    .map_err(|e| Status::invalid_argument(format!("bad parameter value: {e}")))
            })
            .collect()
    }

    fn prepared_sql(
        &self,
        principal: &Principal,
        handle: &[u8],
    ) -> Result<(String, Option<RecordBatch>), Status> {
        let id = handle_id(handle)?;
        let prepared = lock(&self.prepared);
        match prepared.get(&id) {
            Some(p) if p.owner == principal.name => Ok((p.sql.clone(), p.params.clone())),
            _ => Err(Status::not_found(
                "unknown prepared statement; prepare it again",
            )),
        }
    }

    async fn audit_failed_login(&self, user: &str, peer: Option<std::net::SocketAddr>) {
        let principal = Principal {
            name: if user.is_empty() {
                "(anonymous)".into()
            } else {
                user.to_string()
            },
            role: Role::Viewer,
            min_group_size: 0,
            hide_drafts: true,
        };
        let engine = self.engine.clone();
        let detail = peer.map(|p| format!("from {p}"));
        let _ = principal
            .scope(async move { engine.record_audit("login_failed", "server", detail).await })
            .await;
    }
}

#[tonic::async_trait]
impl FlightSqlService for TagFusionService {
    type FlightService = TagFusionService;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<BoxStream<HandshakeResponse>>, Status> {
        let peer = request.remote_addr();
        // Argon2 is slow on purpose: verify off the async workers.
        let auth = self.auth.clone();
        let metadata = request.metadata().clone();
        let login = tokio::task::spawn_blocking(move || auth.login(&metadata))
            .await
            .map_err(|e| Status::internal(format!("login: {e}")))?;
        match login {
            Ok((_, token)) => {
                let response = HandshakeResponse {
                    protocol_version: 0,
                    payload: token.clone().into(),
                };
                let stream: BoxStream<HandshakeResponse> =
                    Box::pin(futures::stream::iter(vec![Ok(response)]));
                let mut response = Response::new(stream);
                let header = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| Status::internal("token header"))?;
                response.metadata_mut().insert("authorization", header);
                Ok(response)
            }
            Err(failure) => {
                self.audit_failed_login(&failure.user, peer).await;
                Err(failure.status)
            }
        }
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let principal = self.principal(&request)?;
        let (id, schema) = self.start(&principal, &query.query, None).await?;
        self.flight_info(id, &schema, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let principal = self.principal(&request)?;
        let id = handle_id(&ticket.statement_handle)?;
        let pending = {
            let mut results = lock(&self.results);
            match results.remove(&id) {
                Some(p) if p.owner == principal.name => p,
                Some(p) => {
                    results.insert(id, p);
                    return Err(Status::not_found("unknown result"));
                }
                None => {
                    return Err(Status::not_found(
                        "unknown or already fetched result; run the statement again",
                    ));
                }
            }
        };
        let deadline = pending
            .deadline
            .map(|d| Box::pin(tokio::time::sleep_until(d.into())));
        let guarded = Guarded {
            inner: pending.stream,
            deadline,
            _permit: pending.permit,
            done: false,
        };
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(pending.schema)
            .build(guarded)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let principal = self.principal(&request)?;
        let (sql, params) = self.prepared_sql(&principal, &cmd.prepared_statement_handle)?;
        let values = match &params {
            Some(batch) if batch.num_columns() > 0 => Some(
                Self::parameter_rows(batch)?
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        let (id, schema) = self.start(&principal, &sql, values).await?;
        self.flight_info(id, &schema, request.into_inner())
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let principal = self.principal(&request)?;
        let engine = self.engine.clone();
        let text = query.query.clone();
        let described = principal
            .clone()
            .scope(async move {
                let mut statements = engine.parse(&text)?;
                if statements.len() != 1 {
                    return Err(Error::invalid(format!(
                        "prepare one statement at a time (got {})",
                        statements.len()
                    )));
                }
                engine.describe_statement(&statements.remove(0)).await
            })
            .await
            .map_err(|e| status(&e, &query.query))?;
        let (dataset, parameters) = described;
        let id = Uuid::new_v4();
        lock(&self.prepared).insert(
            id,
            Prepared {
                owner: principal.name.clone(),
                sql: query.query,
                params: None,
            },
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: id.as_bytes().to_vec().into(),
            dataset_schema: ipc_schema(&flight_schema(&Arc::new(dataset)))?,
            parameter_schema: ipc_schema(&parameters)?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        // Idempotent: drivers close on every change of SQL text, and a failing close would fail
        // the client's next statement.
        if let Ok(id) = handle_id(&query.prepared_statement_handle) {
            lock(&self.prepared).remove(&id);
        }
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let principal = self.principal(&request)?;
        let id = handle_id(&query.prepared_statement_handle)?;
        let batches = read_parameters(request).await?;
        let params = batches.into_iter().find(|b| b.num_rows() > 0);
        let mut prepared = lock(&self.prepared);
        match prepared.get_mut(&id) {
            Some(p) if p.owner == principal.name => p.params = params,
            _ => {
                return Err(Status::not_found(
                    "unknown prepared statement; prepare it again",
                ));
            }
        }
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let principal = self.principal(&request)?;
        let (sql, _) = self.prepared_sql(&principal, &query.prepared_statement_handle)?;
        let batches = read_parameters(request).await?;
        let mut rows = Vec::new();
        for b in batches.iter().filter(|b| b.num_columns() > 0) {
            rows.extend(Self::parameter_rows(b)?);
        }
        if rows.is_empty() {
            return self.update(&principal, &sql, None).await;
        }
        let mut total = 0;
        for values in rows {
            total += self.update(&principal, &sql, Some(values)).await?;
        }
        Ok(total)
    }

    async fn do_put_statement_update(
        &self,
        ticket: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let principal = self.principal(&request)?;
        self.update(&principal, &ticket.query, None).await
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request)?;
        let schema = query.clone().into_builder(&metadata::SQL_INFO).schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request)?;
        let builder = query.into_builder(&metadata::SQL_INFO);
        Ok(Self::batch_stream(builder.schema(), builder.build()))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request)?;
        let schema = query.into_builder(&metadata::XDBC_TYPES).schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request)?;
        let builder = query.into_builder(&metadata::XDBC_TYPES);
        Ok(Self::batch_stream(builder.schema(), builder.build()))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request)?;
        let schema = query.into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        _query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request)?;
        let builder = metadata::catalogs(&self.engine);
        Ok(Self::batch_stream(builder.schema(), builder.build()))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request)?;
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request)?;
        let builder = metadata::db_schemas(&self.engine, query.into_builder());
        Ok(Self::batch_stream(builder.schema(), builder.build()))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request)?;
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request)?;
        let builder = metadata::get_tables(&self.engine, query.into_builder()).await?;
        Ok(Self::batch_stream(builder.schema(), builder.build()))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request)?;
        let schema = query.into_builder().schema();
        self.metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request)?;
        let mut builder = query.into_builder();
        for t in metadata::TABLE_TYPES {
            builder.append(*t);
        }
        Ok(Self::batch_stream(builder.schema(), builder.build()))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request)?;
        self.metadata_info(
            query,
            &metadata::primary_keys_schema(),
            request.into_inner(),
        )
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request)?;
        let batch = metadata::primary_keys(&self.engine, &query)
            .await
            .map_err(|e| FlightError::ExternalError(Box::new(e)));
        Ok(Self::batch_stream(metadata::primary_keys_schema(), batch))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
