//! The TagFusion SQL parser: DataFusion's `DFParser` plus the TAG DSL of SPEC §2.
//!
//! Like `DFParser` itself, it peeks at the first keywords of each statement: `CREATE ENTITY`,
//! `CREATE TAG`, `REFRESH`, `SHOW ENTITIES|TAGS`, `DESCRIBE TAG`, `ALTER TAG`, `DROP TAG|ENTITY`
//! are ours; everything else goes to DataFusion unchanged. Each statement keeps its location
//! and source text, so errors point at a line and column and definitions are stored as written.

mod ast;
pub mod keywords;
pub mod limits;
mod source;

pub use ast::*;
use source::SourceText;
pub use source::locate_name;

use datafusion::sql::parser::{DFParser, DFParserBuilder};
use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Error, Location, Result};

static DIALECT: GenericDialect = GenericDialect {};

/// Parses a script into statements.
pub fn parse(sql: &str) -> Result<Vec<ParsedStatement>> {
    let src = SourceText::new(sql);
    let tokens = Tokenizer::new(&DIALECT, sql)
        .tokenize_with_location()
        .map_err(|e| parse_error(&e.to_string()))?;
    limits::check_operators(&tokens)?;
    let mut p = TagParser {
        df: DFParserBuilder::new(tokens)
            .with_dialect(&DIALECT)
            .with_recursion_limit(limits::MAX_NESTING)
            .build()?,
        src,
    };
    let mut out = Vec::new();
    loop {
        while p.df.parser.consume_token(&Token::SemiColon) {}
        if p.df.parser.peek_token_ref().token == Token::EOF {
            break;
        }
        let start = p.df.parser.peek_token_ref().span.start;
        let location = Location::from(start);
        let statement = p.parse_statement().map_err(|e| {
            let here = p.df.parser.get_current_token().span.start;
            limits::explain_nesting(with_location(e, location), here)
        })?;
        let end = p.df.parser.get_current_token().span.end;
        let text = p.src.slice(start, end).to_string();
        out.push(ParsedStatement {
            statement,
            location,
            text,
        });
        match &p.df.parser.peek_token_ref().token {
            Token::SemiColon | Token::EOF => {}
            _ => {
                let found = p.df.parser.peek_token();
                return Err(parse_error(&format!(
                    "Expected: end of statement (;), found: {found}{}",
                    found.span.start
                )));
            }
        }
    }
    Ok(out)
}

/// Parses a single statement (a trailing `;` is allowed).
pub fn parse_one(sql: &str) -> Result<ParsedStatement> {
    let mut all = parse(sql)?;
    match all.len() {
        1 => Ok(all.remove(0)),
        0 => Err(Error::invalid("empty statement")),
        n => Err(Error::invalid(format!("expected one statement, found {n}"))),
    }
}

struct TagParser<'a> {
    df: DFParser<'a>,
    src: SourceText<'a>,
}

/// Turns a sqlparser/DataFusion parse error ("… at Line: 3, Column: 7") into [`Error::Parse`].
fn parse_error(message: &str) -> Error {
    let (message, location) = split_location(message);
    let message = message
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_start_matches("sql parser error: ")
        .trim_end_matches("\")")
        .to_string();
    Error::Parse {
        message,
        location: location.unwrap_or_default(),
    }
}

fn split_location(message: &str) -> (String, Option<Location>) {
    let Some(at) = message.find(" at Line: ") else {
        return (message.to_string(), None);
    };
    let rest = &message[at + " at Line: ".len()..];
    let mut parts = rest.splitn(2, ", Column: ");
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let column = parts.next().and_then(|c| {
        let digits: String = c.chars().take_while(|ch| ch.is_ascii_digit()).collect();
        digits.parse().ok()
    });
    match (line, column) {
        (Some(line), Some(column)) => {
            let tail_start = at + " at Line: ".len() + rest.find(", Column: ").unwrap_or(0);
            let tail = &message[tail_start..];
            let after_digits = tail
                .trim_start_matches(", Column: ")
                .trim_start_matches(|c: char| c.is_ascii_digit());
            (
                format!("{}{}", &message[..at], after_digits),
                Some(Location { line, column }),
            )
        }
        _ => (message.to_string(), None),
    }
}

fn with_location(e: Error, statement_start: Location) -> Error {
    match e {
        Error::Parse { message, location } if location.line == 0 => Error::Parse {
            message,
            location: statement_start,
        },
        Error::DataFusion(df) => {
            let err = parse_error(&df.strip_backtrace());
            with_location(err, statement_start)
        }
        other => other,
    }
}

impl From<ParserError> for Error {
    fn from(e: ParserError) -> Self {
        parse_error(&e.to_string())
    }
}

/// An identifier as SQL sees it: unquoted names fold to lower case, quoted ones stay as written.
pub fn normalize_ident(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// Whether `name`, written unquoted, reads back as a column wherever a query names one. A tag
/// (or segment) is a column of the profile: one named like a SQL keyword (`cluster`, `order`,
/// `limit`) could be created but not selected (`SELECT customer_id, cluster FROM …` fails).
pub fn usable_as_column(name: &str) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, visit_expressions};
    use std::ops::ControlFlow;
    let is_keyword = matches!(
        Tokenizer::new(&DIALECT, name).tokenize().as_deref(),
        Ok([Token::Word(w)]) if w.keyword != Keyword::NoKeyword
    );
    if !is_keyword {
        return true;
    }
    // Each probe names it `uses` times; a keyword that parses as something else fails.
    let probes = [
        (format!("SELECT {name} FROM t"), 1),
        (format!("SELECT k, {name}, j FROM t"), 1),
        (
            format!("SELECT k FROM t WHERE {name} AND k GROUP BY k, {name} ORDER BY {name}"),
            3,
        ),
        (format!("SELECT k FROM t WHERE k = {name} OR NOT {name}"), 2),
    ];
    probes.iter().all(|(sql, uses)| {
        let Ok(mut statements) = DFParser::parse_sql_with_dialect(sql, &DIALECT) else {
            return false;
        };
        let Some(datafusion::sql::parser::Statement::Statement(statement)) = statements.pop_front()
        else {
            return false;
        };
        let mut seen = 0;
        let _ = visit_expressions(statement.as_ref(), |e| {
            if let SqlExpr::Identifier(id) = e
                && id.value.eq_ignore_ascii_case(name)
            {
                seen += 1;
            }
            ControlFlow::<()>::Continue(())
        });
        statements.is_empty() && seen == *uses
    })
}

/// Quotes a name for use in generated SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Splits `entity.name` at the first dot outside double quotes.
pub fn split_qualified(text: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => return Some((&text[..i], &text[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Quotes a string literal for generated SQL.
pub fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl<'a> TagParser<'a> {
    fn peek_word(&self, n: usize) -> Option<String> {
        match &self.df.parser.peek_nth_token_ref(n).token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
            _ => None,
        }
    }

    fn peek_is(&self, words: &[&str]) -> bool {
        words
            .iter()
            .enumerate()
            .all(|(i, w)| self.peek_word(i).as_deref() == Some(*w))
    }

    /// Consumes `word` (case-insensitive, unquoted) if it is next.
    fn parse_word(&mut self, word: &str) -> bool {
        if self.peek_word(0).as_deref() == Some(word) {
            self.df.parser.next_token();
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.parse_word(word) {
            Ok(())
        } else {
            self.expected(word)
        }
    }

    fn expected<T>(&self, what: &str) -> Result<T> {
        let found = self.df.parser.peek_token();
        Err(Error::Parse {
            message: format!("Expected: {what}, found: {found}"),
            location: Location::from(found.span.start),
        })
    }

    /// Dispatches on the first keyword (as DataFusion's `DFParser` does); each sub-parser looks
    /// at the object word and hands anything that is not TagFusion's to DataFusion's parser.
    fn parse_statement(&mut self) -> Result<Statement> {
        let first = self.peek_word(0).unwrap_or_default();
        let parsed = match first.as_str() {
            "CREATE" => self.parse_create()?,
            "SHOW" => self.parse_show()?,
            "DESCRIBE" | "DESC" => self.parse_describe()?,
            "DROP" => self.parse_drop()?,
            "ALTER" => self.parse_alter()?,
            "REFRESH" => Some(self.parse_refresh()?),
            "EXPLAIN" if self.peek_is(&["EXPLAIN", "REFRESH"]) => {
                Some(self.parse_explain_refresh()?)
            }
            "PERSONA" => Some(self.parse_persona()?),
            "PROFILE" => self.parse_profile()?,
            _ => None,
        };
        match parsed {
            Some(statement) => Ok(statement),
            None => self.parse_sql(),
        }
    }

    /// A statement of plain SQL, for DataFusion.
    fn parse_sql(&mut self) -> Result<Statement> {
        let statement = self.df.parse_statement()?;
        limits::check_statement_depth(&statement)?;
        Ok(Statement::Sql(Box::new(statement)))
    }

    /// Consumes the first two words (`DROP TAG`, `SHOW ENTITIES`, …).
    fn skip_two_words(&mut self) {
        self.df.parser.next_token();
        self.df.parser.next_token();
    }

    /// `CREATE [OR REPLACE] ENTITY | TAG | SEGMENT | IDENTITY GRAPH …`; `None` for SQL's CREATE.
    fn parse_create(&mut self) -> Result<Option<Statement>> {
        let object_at = if self.peek_is(&["CREATE", "OR", "REPLACE"]) {
            3
        } else {
            1
        };
        Ok(Some(match self.peek_word(object_at).as_deref() {
            Some("ENTITY") => self.parse_create_entity()?,
            Some("TAG") => self.parse_create_tag()?,
            Some("SEGMENT") => self.parse_create_segment()?,
            Some("IDENTITY") => self.parse_create_identity_graph()?,
            _ => return Ok(None),
        }))
    }

    /// `SHOW ENTITIES | TAGS | SEGMENTS | CATEGORIES | FUNCTIONS | IDENTITY GRAPHS`; `None` for
    /// SQL's SHOW (`SHOW TABLES`, `SHOW ALL`, variables).
    fn parse_show(&mut self) -> Result<Option<Statement>> {
        Ok(Some(match self.peek_word(1).as_deref() {
            Some("ENTITIES") => {
                self.skip_two_words();
                Statement::ShowEntities
            }
            Some("TAGS") => self.parse_show_tags()?,
            Some("SEGMENTS") => Statement::ShowSegments {
                entity: self.parse_show_for()?,
            },
            Some("CATEGORIES") => Statement::ShowCategories {
                entity: self.parse_show_for()?,
            },
            Some("FUNCTIONS") => {
                self.skip_two_words();
                let like = if self.parse_word("LIKE") {
                    Some(self.parse_string()?)
                } else {
                    None
                };
                Statement::ShowFunctions { like }
            }
            Some("IDENTITY") => {
                self.skip_two_words();
                self.expect_word("GRAPHS")?;
                Statement::ShowIdentityGraphs
            }
            _ => return Ok(None),
        }))
    }

    /// `DESCRIBE | DESC  ENTITY | TAG | SEGMENT | IDENTITY GRAPH name`; `None` for SQL's DESCRIBE.
    fn parse_describe(&mut self) -> Result<Option<Statement>> {
        Ok(Some(match self.peek_word(1).as_deref() {
            Some("ENTITY") => {
                self.skip_two_words();
                Statement::DescribeEntity(self.parse_name()?)
            }
            Some("TAG") => {
                self.skip_two_words();
                Statement::DescribeTag(self.parse_qualified("tag name (entity.tag)")?)
            }
            Some("SEGMENT") => {
                self.skip_two_words();
                Statement::DescribeSegment(self.parse_qualified("segment name (entity.segment)")?)
            }
            Some("IDENTITY") => Statement::DescribeIdentityGraph(self.parse_graph_name()?),
            _ => return Ok(None),
        }))
    }

    /// `DROP ENTITY | TAG | SEGMENT name [CASCADE]`, `DROP IDENTITY GRAPH name`; `None` for SQL's
    /// DROP.
    fn parse_drop(&mut self) -> Result<Option<Statement>> {
        Ok(Some(match self.peek_word(1).as_deref() {
            Some("ENTITY") => {
                self.skip_two_words();
                let name = self.parse_name()?;
                let cascade = self.df.parser.parse_keyword(Keyword::CASCADE);
                Statement::DropEntity { name, cascade }
            }
            Some("TAG") => {
                self.skip_two_words();
                let name = self.parse_qualified("tag name (entity.tag)")?;
                let cascade = self.df.parser.parse_keyword(Keyword::CASCADE);
                Statement::DropTag { name, cascade }
            }
            Some("SEGMENT") => {
                self.skip_two_words();
                let name = self.parse_qualified("segment name (entity.segment)")?;
                let cascade = self.df.parser.parse_keyword(Keyword::CASCADE);
                Statement::DropSegment { name, cascade }
            }
            Some("IDENTITY") => Statement::DropIdentityGraph(self.parse_graph_name()?),
            _ => return Ok(None),
        }))
    }

    /// `ALTER TAG …`; `None` for SQL's ALTER.
    fn parse_alter(&mut self) -> Result<Option<Statement>> {
        if self.peek_word(1).as_deref() == Some("TAG") {
            Ok(Some(self.parse_alter_tag()?))
        } else {
            Ok(None)
        }
    }

    /// `PERSONA entity key`.
    fn parse_persona(&mut self) -> Result<Statement> {
        self.df.parser.next_token();
        let entity = self.parse_name()?;
        let key = self.parse_key_literal()?;
        Ok(Statement::Persona { entity, key })
    }

    /// `PROFILE SEGMENT entity.segment [BY tag, …]`; `None` otherwise (DataFusion's error).
    fn parse_profile(&mut self) -> Result<Option<Statement>> {
        if self.peek_word(1).as_deref() != Some("SEGMENT") {
            return Ok(None);
        }
        self.skip_two_words();
        let segment = self.parse_qualified("segment name (entity.segment)")?;
        let mut by = Vec::new();
        if self.parse_word("BY") {
            loop {
                by.push(self.parse_name()?);
                if !self.df.parser.consume_token(&Token::Comma) {
                    break;
                }
            }
        }
        Ok(Some(Statement::ProfileSegment { segment, by }))
    }

    /// `SHOW <WHAT> [FOR entity]`: consumes the two words and the optional entity.
    fn parse_show_for(&mut self) -> Result<Option<String>> {
        self.skip_two_words();
        if self.parse_word("FOR") {
            Ok(Some(self.parse_name()?))
        } else {
            Ok(None)
        }
    }

    fn parse_name(&mut self) -> Result<String> {
        let ident = self.df.parser.parse_identifier()?;
        Ok(normalize_ident(&ident))
    }

    /// `entity.name`
    fn parse_qualified(&mut self, what: &str) -> Result<QualifiedName> {
        let start = self.df.parser.peek_token_ref().span.start;
        let name: ObjectName = self.df.parser.parse_object_name(false)?;
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(normalize_ident)
            .collect();
        match parts.as_slice() {
            [entity, name] => Ok(QualifiedName {
                entity: entity.clone(),
                name: name.clone(),
            }),
            _ => Err(Error::Parse {
                message: format!("Expected: {what}, found: {name}"),
                location: Location::from(start),
            }),
        }
    }

    /// A key value: a string or an integer literal.
    fn parse_key_literal(&mut self) -> Result<KeyLiteral> {
        let negative = self.df.parser.consume_token(&Token::Minus);
        let token = self.df.parser.peek_token();
        match &token.token {
            Token::SingleQuotedString(s) if !negative => {
                let s = s.clone();
                self.df.parser.next_token();
                Ok(KeyLiteral::Text(s))
            }
            Token::Number(n, _) => match n.parse::<i64>() {
                Ok(v) => {
                    self.df.parser.next_token();
                    Ok(KeyLiteral::Integer(if negative { -v } else { v }))
                }
                Err(_) => self.expected("a key: a quoted string or an integer"),
            },
            _ => self.expected("a key: a quoted string or an integer"),
        }
    }

    fn parse_string(&mut self) -> Result<String> {
        Ok(self.df.parser.parse_literal_string()?)
    }

    /// Parses what follows `AS`: `(<query>)` or an expression, returning its source text.
    fn parse_body(&mut self) -> Result<Body> {
        let start = self.df.parser.peek_token_ref().span.start;
        let is_query = self.df.parser.peek_token_ref().token == Token::LParen
            && matches!(
                self.peek_word(1).as_deref(),
                Some("SELECT" | "WITH" | "VALUES")
            );
        if is_query {
            self.df.parser.next_token();
            let inner_start = self.df.parser.peek_token_ref().span.start;
            limits::check_depth(&self.df.parser.parse_query()?)?;
            let inner_end = self.df.parser.get_current_token().span.end;
            self.df.parser.expect_token(&Token::RParen)?;
            Ok(Body::Query(
                self.src.slice(inner_start, inner_end).to_string(),
            ))
        } else {
            limits::check_depth(&self.df.parser.parse_expr()?)?;
            let end = self.df.parser.get_current_token().span.end;
            Ok(Body::Expression(self.src.slice(start, end).to_string()))
        }
    }

    fn parse_expr_text(&mut self) -> Result<String> {
        let start = self.df.parser.peek_token_ref().span.start;
        limits::check_depth(&self.df.parser.parse_expr()?)?;
        let end = self.df.parser.get_current_token().span.end;
        Ok(self.src.slice(start, end).to_string())
    }

    fn parse_create_prefix(&mut self) -> bool {
        self.df.parser.next_token(); // CREATE
        let or_replace = self
            .df
            .parser
            .parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
        self.df.parser.next_token(); // ENTITY | TAG
        or_replace
    }

    fn parse_create_entity(&mut self) -> Result<Statement> {
        let or_replace = self.parse_create_prefix();
        let name = self.parse_name()?;
        self.expect_word("KEY")?;
        let key = self.parse_name()?;
        self.expect_word("FROM")?;
        let source = if self.df.parser.peek_token_ref().token == Token::LParen {
            match self.parse_body()? {
                Body::Query(q) => EntitySource::Query(q),
                Body::Expression(_) => return self.expected("a table name or (SELECT …)"),
            }
        } else {
            let start = self.df.parser.peek_token_ref().span.start;
            self.df.parser.parse_object_name(false)?;
            let end = self.df.parser.get_current_token().span.end;
            EntitySource::Table(self.src.slice(start, end).to_string())
        };
        let mut description = None;
        if self.parse_word("DESCRIPTION") {
            description = Some(self.parse_string()?);
        }
        Ok(Statement::CreateEntity(CreateEntity {
            or_replace,
            name,
            key,
            source,
            description,
        }))
    }

    fn parse_create_tag(&mut self) -> Result<Statement> {
        let or_replace = self.parse_create_prefix();
        let name = self.parse_qualified("tag name (entity.tag)")?;
        let mut tag = CreateTag {
            or_replace,
            name,
            kind: None,
            category: None,
            description: None,
            owner: None,
            sensitive: false,
            default: None,
            body: Body::Expression(String::new()),
        };
        let mut seen = Vec::new();
        loop {
            let Some(word) = self.peek_word(0) else {
                return self.expected("AS");
            };
            self.ensure_once(&mut seen, &word)?;
            match word.as_str() {
                "KIND" => {
                    self.df.parser.next_token();
                    let kind = self.parse_name()?;
                    tag.kind = Some(kind.parse().map_err(|m: String| {
                        let at = self.df.parser.get_current_token().span.start;
                        Error::Parse {
                            message: m,
                            location: Location::from(at),
                        }
                    })?);
                }
                "CATEGORY" => {
                    self.df.parser.next_token();
                    tag.category = Some(self.parse_string()?);
                }
                "DESCRIPTION" => {
                    self.df.parser.next_token();
                    tag.description = Some(self.parse_string()?);
                }
                "OWNER" => {
                    self.df.parser.next_token();
                    tag.owner = Some(self.parse_string()?);
                }
                "SENSITIVE" => {
                    self.df.parser.next_token();
                    tag.sensitive = true;
                }
                "DEFAULT" => {
                    self.df.parser.next_token();
                    tag.default = Some(self.parse_expr_text()?);
                }
                "AS" => {
                    self.df.parser.next_token();
                    tag.body = self.parse_body()?;
                    return Ok(Statement::CreateTag(tag));
                }
                _ => {
                    return self
                        .expected("KIND, CATEGORY, DESCRIPTION, OWNER, SENSITIVE, DEFAULT or AS");
                }
            }
        }
    }

    /// Like `DFParser`'s `ensure_not_set`: a clause given twice (`CATEGORY 'a' CATEGORY 'b'`)
    /// is an error at the second one, not a silent overwrite.
    fn ensure_once(&self, seen: &mut Vec<String>, clause: &str) -> Result<()> {
        if seen.iter().any(|c| c == clause) {
            let at = self.df.parser.peek_token_ref().span.start;
            return Err(Error::Parse {
                message: format!("{clause} is given twice; give each clause once"),
                location: Location::from(at),
            });
        }
        seen.push(clause.to_string());
        Ok(())
    }

    fn parse_create_segment(&mut self) -> Result<Statement> {
        let or_replace = self.parse_create_prefix();
        let name = self.parse_qualified("segment name (entity.segment)")?;
        let mut description = None;
        if self.parse_word("DESCRIPTION") {
            description = Some(self.parse_string()?);
        }
        self.expect_word("AS")?;
        let definition = self.parse_expr_text()?;
        Ok(Statement::CreateSegment(CreateSegment {
            or_replace,
            name,
            description,
            definition,
        }))
    }

    /// `<VERB> IDENTITY GRAPH name`: consumes the three words and the name.
    fn parse_graph_name(&mut self) -> Result<String> {
        self.skip_two_words();
        self.expect_word("GRAPH")?;
        self.parse_name()
    }

    fn parse_create_identity_graph(&mut self) -> Result<Statement> {
        let or_replace = self.parse_create_prefix(); // CREATE [OR REPLACE] IDENTITY
        self.expect_word("GRAPH")?;
        let mut graph = CreateIdentityGraph {
            or_replace,
            name: self.parse_name()?,
            ..Default::default()
        };
        loop {
            if self.parse_word("DESCRIPTION") {
                graph.description = Some(self.parse_string()?);
            } else if self.peek_is(&["MAX", "GROUP", "SIZE"]) {
                for _ in 0..3 {
                    self.df.parser.next_token();
                }
                graph.max_group_size = Some(self.parse_count()?);
            } else if self.peek_is(&["MAX", "PER", "GROUP"]) {
                for _ in 0..3 {
                    self.df.parser.next_token();
                }
                self.df.parser.expect_token(&Token::LParen)?;
                loop {
                    let id_type = self.parse_name()?;
                    graph.max_per_type.push((id_type, self.parse_count()?));
                    if !self.df.parser.consume_token(&Token::Comma) {
                        break;
                    }
                }
                self.df.parser.expect_token(&Token::RParen)?;
            } else if self.parse_word("BLOCK") {
                let id_type = self.parse_name()?;
                if self.parse_word("IN") {
                    self.df.parser.expect_token(&Token::LParen)?;
                    let mut values = Vec::new();
                    loop {
                        values.push(self.parse_string()?);
                        if !self.df.parser.consume_token(&Token::Comma) {
                            break;
                        }
                    }
                    self.df.parser.expect_token(&Token::RParen)?;
                    graph.blocks.push(Block::Values { id_type, values });
                } else if self.parse_word("MATCHING") {
                    let pattern = self.parse_string()?;
                    graph.blocks.push(Block::Matching { id_type, pattern });
                } else {
                    return self.expected("IN ('value', …) or MATCHING 'regex' after BLOCK type");
                }
            } else if self.parse_word("PRIORITY") {
                self.df.parser.expect_token(&Token::LParen)?;
                loop {
                    graph.priority.push(self.parse_name()?);
                    if !self.df.parser.consume_token(&Token::Comma) {
                        break;
                    }
                }
                self.df.parser.expect_token(&Token::RParen)?;
            } else if self.parse_word("FROM") {
                loop {
                    match self.parse_body()? {
                        Body::Query(q) => graph.sources.push(q),
                        Body::Expression(_) => {
                            return self.expected("(SELECT …) as a source of the identity graph");
                        }
                    }
                    if !self.df.parser.consume_token(&Token::Comma) {
                        break;
                    }
                }
                return Ok(Statement::CreateIdentityGraph(graph));
            } else {
                return self.expected(
                    "DESCRIPTION, MAX GROUP SIZE, MAX PER GROUP, BLOCK, PRIORITY or FROM",
                );
            }
        }
    }

    /// A positive integer.
    fn parse_count(&mut self) -> Result<u64> {
        let token = self.df.parser.peek_token();
        if let Token::Number(n, _) = &token.token
            && let Ok(v) = n.parse::<u64>()
            && v > 0
        {
            self.df.parser.next_token();
            return Ok(v);
        }
        self.expected("a positive integer")
    }

    fn parse_refresh(&mut self) -> Result<Statement> {
        self.df.parser.next_token(); // REFRESH
        if self.peek_is(&["IDENTITY", "GRAPH"]) {
            self.df.parser.next_token();
            self.df.parser.next_token();
            return Ok(Statement::RefreshIdentityGraph(self.parse_name()?));
        }
        if self.parse_word("ENTITY") {
            let entity = self.parse_name()?;
            let as_of = if self.df.parser.parse_keywords(&[Keyword::AS, Keyword::OF]) {
                Some(self.parse_expr_text()?)
            } else {
                None
            };
            Ok(Statement::RefreshEntity { entity, as_of })
        } else if self.parse_word("TAG") {
            Ok(Statement::RefreshTag(
                self.parse_qualified("tag name (entity.tag)")?,
            ))
        } else {
            self.expected("ENTITY, TAG or IDENTITY GRAPH after REFRESH")
        }
    }

    /// `EXPLAIN REFRESH ENTITY e [AS OF …]`.
    fn parse_explain_refresh(&mut self) -> Result<Statement> {
        self.df.parser.next_token(); // EXPLAIN
        match self.parse_refresh()? {
            Statement::RefreshEntity { entity, as_of } => {
                Ok(Statement::ExplainRefresh { entity, as_of })
            }
            _ => self.expected("EXPLAIN REFRESH ENTITY <entity>"),
        }
    }

    fn parse_show_tags(&mut self) -> Result<Statement> {
        self.skip_two_words();
        let mut show = ShowTags::default();
        loop {
            if self.parse_word("FOR") {
                show.entity = Some(self.parse_name()?);
            } else if self.peek_is(&["IN", "CATEGORY"]) {
                self.df.parser.next_token();
                self.df.parser.next_token();
                show.category = Some(self.parse_string()?);
            } else if self.parse_word("LIKE") {
                show.like = Some(self.parse_string()?);
            } else {
                return Ok(Statement::ShowTags(show));
            }
        }
    }

    fn parse_alter_tag(&mut self) -> Result<Statement> {
        self.skip_two_words();
        let name = self.parse_qualified("tag name (entity.tag)")?;
        self.expect_word("SET")?;
        let Some(word) = self.peek_word(0) else {
            return self.expected("STATUS, CATEGORY, DESCRIPTION or OWNER");
        };
        self.df.parser.next_token();
        let change = match word.as_str() {
            "STATUS" => {
                let status = self.parse_name()?;
                let at = self.df.parser.get_current_token().span.start;
                AlterTag::Status(status.parse().map_err(|m: String| Error::Parse {
                    message: m,
                    location: Location::from(at),
                })?)
            }
            "CATEGORY" => AlterTag::Category(self.parse_string()?),
            "DESCRIPTION" => AlterTag::Description(self.parse_string()?),
            "OWNER" => AlterTag::Owner(self.parse_string()?),
            _ => {
                self.df.parser.prev_token();
                return self.expected("STATUS, CATEGORY, DESCRIPTION or OWNER");
            }
        };
        Ok(Statement::AlterTag { name, change })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_that_do_not_read_as_columns_are_found() {
        for bad in [
            "cluster", "order", "limit", "from", "select", "where", "group",
        ] {
            assert!(!usable_as_column(bad), "{bad}");
        }
        for good in [
            "orders_30d",
            "gender",
            "year",
            "level",
            "status",
            "value_cluster",
            "客户等级",
        ] {
            assert!(usable_as_column(good), "{good}");
        }
    }

    #[test]
    fn create_tag_with_every_clause_keeps_its_text() {
        let sql = "CREATE OR REPLACE TAG customer.\"高价值客户\"\n KIND rule CATEGORY '价值/等级' \
                   DESCRIPTION 'd' OWNER 'o' SENSITIVE DEFAULT false AS spend > 1000 AND x IS NOT NULL;";
        let stmts = parse(sql).expect("parses");
        let Statement::CreateTag(t) = &stmts[0].statement else {
            panic!("not a tag")
        };
        assert!(t.or_replace && t.sensitive);
        assert_eq!(t.name.name, "高价值客户");
        assert_eq!(t.kind, Some(TagKind::Rule));
        assert_eq!(t.default.as_deref(), Some("false"));
        assert_eq!(
            t.body,
            Body::Expression("spend > 1000 AND x IS NOT NULL".into())
        );
    }

    #[test]
    fn query_body_and_locations() {
        let sql = "SELECT 1;\n  CREATE TAG c.n AS (SELECT k, count(*) FROM o GROUP BY k)";
        let stmts = parse(sql).expect("parses");
        assert_eq!(stmts[1].location, Location { line: 2, column: 3 });
        let Statement::CreateTag(t) = &stmts[1].statement else {
            panic!()
        };
        assert_eq!(
            t.body,
            Body::Query("SELECT k, count(*) FROM o GROUP BY k".into())
        );
    }

    #[test]
    fn errors_point_at_the_token() {
        let err = parse("SELECT 1;\nCREATE TAG c.x KIND banana AS 1").unwrap_err();
        assert_eq!(
            err.location(),
            Some(Location {
                line: 2,
                column: 21
            })
        );
        let err = parse("SELEC 1").unwrap_err();
        assert_eq!(err.location(), Some(Location { line: 1, column: 1 }));
    }

    #[test]
    fn persona_and_profile_segment() {
        let s = parse("PERSONA customer 'C00042'; persona item -7; PROFILE SEGMENT customer.vip BY gender, \"年龄段\"; PROFILE SEGMENT c.s").unwrap();
        assert_eq!(
            s[0].statement,
            Statement::Persona {
                entity: "customer".into(),
                key: KeyLiteral::Text("C00042".into())
            }
        );
        assert_eq!(
            s[1].statement,
            Statement::Persona {
                entity: "item".into(),
                key: KeyLiteral::Integer(-7)
            }
        );
        let Statement::ProfileSegment { segment, by } = &s[2].statement else {
            panic!("not a profile")
        };
        assert_eq!(segment.to_string(), "customer.vip");
        assert_eq!(by, &["gender".to_string(), "年龄段".to_string()]);
        assert!(matches!(&s[3].statement, Statement::ProfileSegment { by, .. } if by.is_empty()));
        let err = parse("PERSONA customer C00042").unwrap_err();
        assert!(err.to_string().contains("a key"), "{err}");
    }

    #[test]
    fn identity_graph_statements() {
        let s = parse(
            "CREATE OR REPLACE IDENTITY GRAPH person DESCRIPTION 'OneID' MAX GROUP SIZE 50 \
               MAX PER GROUP (email 3, phone 2) BLOCK phone IN ('13800000000', '00000000') \
               BLOCK email MATCHING '^test@' PRIORITY (member_id, phone) \
               FROM (SELECT phone, email FROM signups), (SELECT device_id, phone FROM app_logins); \
             REFRESH IDENTITY GRAPH person; SHOW IDENTITY GRAPHS; DESCRIBE IDENTITY GRAPH person; \
             DROP IDENTITY GRAPH person",
        )
        .expect("parses");
        let Statement::CreateIdentityGraph(g) = &s[0].statement else {
            panic!("not a graph")
        };
        assert!(g.or_replace);
        assert_eq!(g.name, "person");
        assert_eq!(g.max_group_size, Some(50));
        assert_eq!(g.max_per_type, [("email".into(), 3), ("phone".into(), 2)]);
        assert_eq!(g.blocks.len(), 2);
        assert_eq!(g.priority, ["member_id", "phone"]);
        assert_eq!(
            g.sources,
            [
                "SELECT phone, email FROM signups",
                "SELECT device_id, phone FROM app_logins"
            ]
        );
        assert_eq!(
            s[1].statement,
            Statement::RefreshIdentityGraph("person".into())
        );
        assert_eq!(s[2].statement, Statement::ShowIdentityGraphs);
        assert_eq!(
            s[3].statement,
            Statement::DescribeIdentityGraph("person".into())
        );
        assert_eq!(
            s[4].statement,
            Statement::DropIdentityGraph("person".into())
        );
        let err = parse("CREATE IDENTITY GRAPH g MAX GROUP SIZE 0 FROM (SELECT a, b FROM t)")
            .unwrap_err();
        assert!(err.to_string().contains("positive integer"), "{err}");
        let err = parse("CREATE IDENTITY GRAPH g FROM signups").unwrap_err();
        assert!(err.to_string().contains("(SELECT …)"), "{err}");
    }

    #[test]
    fn show_tags_is_not_a_config_variable() {
        let s = parse("SHOW TAGS FOR customer IN CATEGORY '行为' LIKE '%30d%'").unwrap();
        assert_eq!(
            s[0].statement,
            Statement::ShowTags(ShowTags {
                entity: Some("customer".into()),
                category: Some("行为".into()),
                like: Some("%30d%".into())
            })
        );
    }
}
