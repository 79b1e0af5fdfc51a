//! The whole-tree facts of one statement: every relation (RangeVar) and function call
//! (FuncCall) anywhere in it, `pg_terminate_backend(<int>)`, and whether a locking clause, an
//! INTO clause or a data-modifying statement appears below the top.
//!
//! The parse-tree types of `pg_query` derive `serde::Serialize`; walking them with a serializer
//! that writes nothing visits every node of every kind, so no node type can be forgotten (a
//! subquery inside a JSON constructor is found like one in WHERE). The walker keeps a stack of
//! the structs it is in and the field it is at; that is enough to pick out the few values wanted.

use std::fmt;

use pg_query::NodeEnum;
use serde::ser::{self, Serialize};

use super::RelRef;

/// What a walk found. Relations and functions are in text order, each once.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// The statement's node type (`"SelectStmt"`, `"CreateStmt"` …).
    pub root: &'static str,
    pub relations: Vec<RelRef>,
    pub functions: Vec<String>,
    /// First argument of the first `pg_terminate_backend(<integer constant>)`.
    pub terminate_pid: Option<i32>,
    /// Some call of `pg_terminate_backend` (constant argument or not).
    pub calls_terminate: bool,
    /// A `FOR UPDATE/SHARE/…` clause anywhere.
    pub locking: bool,
    /// An INTO clause anywhere.
    pub into: bool,
    /// INSERT/UPDATE/DELETE/MERGE below the top (a data-modifying CTE, an EXPLAINed write).
    pub modifying: bool,
}

/// Walk `stmt` (the top node of a statement).
pub(super) fn walk(stmt: &NodeEnum) -> Found {
    let mut state = State::default();
    // The walker itself never fails; an error could only come from a Serialize impl.
    let _ = stmt.serialize(Walker(&mut state));
    state.finish()
}

/// One struct being walked, and the field of it being walked now.
struct Frame {
    name: &'static str,
    field: &'static str,
    acc: Acc,
}

/// What is collected while inside a RangeVar or a FuncCall.
enum Acc {
    None,
    Rel {
        schema: String,
        name: String,
        location: i32,
    },
    Func {
        parts: Vec<String>,
        location: i32,
        args_seen: u32,
        first_int: Option<i32>,
    },
}

#[derive(Default)]
struct State {
    stack: Vec<Frame>,
    found: Found,
    relations: Vec<(i32, RelRef)>,
    functions: Vec<(i32, String)>,
}

impl State {
    fn enter(&mut self, name: &'static str) {
        match name {
            "LockingClause" => self.found.locking = true,
            "IntoClause" => self.found.into = true,
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" if !self.stack.is_empty() => {
                self.found.modifying = true
            }
            _ => {}
        }
        let acc = match name {
            "RangeVar" => Acc::Rel {
                schema: String::new(),
                name: String::new(),
                location: -1,
            },
            "FuncCall" => Acc::Func {
                parts: Vec::new(),
                location: -1,
                args_seen: 0,
                first_int: None,
            },
            _ => Acc::None,
        };
        self.stack.push(Frame {
            name,
            field: "",
            acc,
        });
    }

    fn leave(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        match frame.acc {
            Acc::Rel {
                schema,
                name,
                location,
            } if !name.is_empty() => {
                let schema = (!schema.is_empty()).then_some(schema);
                self.relations.push((location, RelRef { schema, name }));
            }
            Acc::Func {
                mut parts,
                location,
                first_int,
                ..
            } if !parts.is_empty() => {
                if parts.last().is_some_and(|f| f == "pg_terminate_backend") {
                    self.found.calls_terminate = true;
                    if self.found.terminate_pid.is_none() {
                        self.found.terminate_pid = first_int;
                    }
                }
                let keep = parts.len().saturating_sub(2);
                let name = parts.split_off(keep).join(".");
                self.functions.push((location, name));
            }
            _ => {}
        }
    }

    fn field(&mut self, key: &'static str) {
        if let Some(top) = self.stack.last_mut() {
            top.field = key;
        }
    }

    /// An element of a sequence inside the top struct's current field.
    fn element(&mut self) {
        if let Some(Frame {
            field: "args",
            acc: Acc::Func { args_seen, .. },
            ..
        }) = self.stack.last_mut()
        {
            *args_seen += 1;
        }
    }

    /// The frame `up` levels above the top (0 = the top), with its current field.
    fn at(&self, up: usize) -> Option<(&'static str, &'static str)> {
        let i = self.stack.len().checked_sub(up + 1)?;
        Some((self.stack[i].name, self.stack[i].field))
    }

    fn string(&mut self, v: &str) {
        let n = self.stack.len();
        match self.at(0) {
            Some(("RangeVar", field)) => {
                if let Some(Frame {
                    acc: Acc::Rel { schema, name, .. },
                    ..
                }) = self.stack.last_mut()
                {
                    match field {
                        "schemaname" => *schema = v.to_owned(),
                        "relname" => *name = v.to_owned(),
                        _ => {}
                    }
                }
            }
            // FuncCall.funcname is a list of Node{String{sval}}.
            Some(("String", "sval"))
                if self.at(1) == Some(("Node", "node"))
                    && self.at(2) == Some(("FuncCall", "funcname")) =>
            {
                if let Acc::Func { parts, .. } = &mut self.stack[n - 3].acc {
                    parts.push(v.to_owned());
                }
            }
            _ => {}
        }
    }

    fn int(&mut self, v: i32) {
        let n = self.stack.len();
        match self.at(0) {
            Some(("RangeVar" | "FuncCall", "location")) => match &mut self.stack[n - 1].acc {
                Acc::Rel { location, .. } | Acc::Func { location, .. } => *location = v,
                Acc::None => {}
            },
            // The first argument of a call, when it is an integer constant:
            // FuncCall.args[0] = Node{AConst{val: Ival(Integer{ival})}}.
            Some(("Integer", "ival"))
                if self.at(1) == Some(("AConst", "val"))
                    && self.at(2) == Some(("Node", "node"))
                    && self.at(3) == Some(("FuncCall", "args")) =>
            {
                if let Acc::Func {
                    args_seen: 1,
                    first_int,
                    ..
                } = &mut self.stack[n - 4].acc
                {
                    *first_int = Some(v);
                }
            }
            _ => {}
        }
    }

    fn finish(mut self) -> Found {
        self.found.relations = in_text_order(self.relations);
        self.found.functions = in_text_order(self.functions);
        self.found
    }
}

/// Sorted by location (unknown locations last, in walk order), duplicates dropped.
fn in_text_order<T: PartialEq>(mut items: Vec<(i32, T)>) -> Vec<T> {
    items.sort_by_key(|(location, _)| u32::try_from(*location).unwrap_or(u32::MAX));
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for (_, item) in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The walker's error: never produced by the walker itself.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("parse tree walk stopped")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Stop
    }
}

/// A serializer that writes nothing and reports what it passes to `State`.
struct Walker<'a>(&'a mut State);

type Done = Result<(), Stop>;

impl ser::Serializer for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, _: bool) -> Done {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Done {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Done {
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Done {
        self.0.int(v);
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Done {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Done {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Done {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Done {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Done {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Done {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Done {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Done {
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        self.0.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Done {
        Ok(())
    }
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Done {
        if self.0.found.root.is_empty() {
            self.0.found.root = variant;
        }
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Self, Stop> {
        self.0.enter(name);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
}

impl Walker<'_> {
    fn visit<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        value.serialize(Walker(&mut *self.0))
    }
}

impl ser::SerializeSeq for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.0.element();
        self.visit(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeTuple for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.visit(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.visit(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.visit(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeMap for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Done {
        self.visit(key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.visit(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeStruct for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Done {
        self.0.field(key);
        self.visit(value)
    }
    fn end(self) -> Done {
        self.0.leave();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Walker<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, _: &'static str, value: &T) -> Done {
        self.visit(value)
    }
    fn end(self) -> Done {
        Ok(())
    }
}
