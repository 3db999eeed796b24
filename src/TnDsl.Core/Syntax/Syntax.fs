/// The abstract syntax of `.tn` files. Every node carries the range of text it was parsed from.
module TnDsl.Syntax

/// A name as written, with its range. Qualified names (`enc.top`) are kept whole.
type Ident = { Name: string; Range: SourceRange }

/// Binary operators, lowest precedence first: `or`, `and`, (prefix `not`), comparisons, `+ -`, `* / %`,
/// (prefix `-`), `^` (right-associative).
type BinOp =
    | Or
    | And
    | Eq
    | Ne
    | Lt
    | Le
    | Gt
    | Ge
    | Add
    | Sub
    | Mul
    | Div
    | Mod
    | Pow

/// Unary operators.
type UnOp =
    | Neg
    | Not

/// An expression over parameters, `let` bindings and loop variables.
type Expr = { Kind: ExprKind; Range: SourceRange }

/// The forms an expression takes.
and ExprKind =
    | EInt of int64
    | EFloat of float
    | EBool of bool
    | EVar of string
    | EUnary of UnOp * Expr
    | EBinary of BinOp * Expr * Expr
    /// A built-in function: `min`, `max`, `log2`, `sqrt`, `abs`, `floor`, `ceil`.
    | ECall of Ident * Expr list
    /// `if c then a else b`.
    | EIf of Expr * Expr * Expr
    /// A literal the parser has already reported (an integer past 64 bits), with its text: evaluating it abandons
    /// what depends on it without a further diagnostic, so one mistake gives one error.
    | EError of string

/// An inclusive range `from..to`, optionally `by step`.
type RangeExpr =
    { From: Expr
      To: Expr
      Step: Expr option
      Range: SourceRange }

/// One subscript of an index reference: a single value, or a range that expands a slice (`p[0..n-1]`).
type Subscript =
    | SAt of Expr
    | SSlice of RangeExpr

/// A reference to an index (or family member, or slice of a family): `b[i+1]`, `p[0..n-1]`, `h[x, y]`, `enc.top`.
type IndexRef =
    { Name: Ident
      Subscripts: Subscript list
      Range: SourceRange }

/// `i in 0..n-1`: one loop variable and the range it runs over.
type Binder = { Var: Ident; Over: RangeExpr }

/// `for i in 0..n-1, j in 0..m-1 if i != j`: binders (the first outermost) and an optional filter.
type ForClause =
    { Binders: Binder list
      Filter: Expr option
      Range: SourceRange }

/// A leg in a leg list, kept only when its condition holds: `h[x-1, y] if x > 0`.
type Leg = { Ref: IndexRef; Cond: Expr option; Range: SourceRange }

/// A parenthesised list of legs.
type LegList = { Legs: Leg list; Range: SourceRange }

/// The declared type of a network parameter.
type ParamType =
    | TInt
    | TFloat
    | TBool

/// `n: int = 16`.
type ParamDecl =
    { Name: Ident
      Type: ParamType
      Default: Expr option
      Range: SourceRange }

/// An initialiser: a named built-in with arguments (`normal(0, 0.1)`, `identity`, `copy`), a number, or a sum.
type InitExpr = { Kind: InitKind; Range: SourceRange }

/// The forms an initialiser takes.
and InitKind =
    | IName of Ident * Expr list
    | INumber of Expr
    | ISum of InitExpr * InitExpr

/// A built-in input embedding with its arguments: `onehot(2)`, `trig`, `fourier(18)`.
type EmbedExpr =
    { Name: Ident
      Args: Expr list
      Range: SourceRange }

/// The clauses that may follow a tensor's leg list, in any order.
type Clause =
    | CFor of ForClause
    | CInit of InitExpr
    | CEmbed of EmbedExpr
    /// `shared` (one parameter for the whole family), `shared NAME` (one parameter named NAME), or
    /// `shared NAME[l]` (one parameter per value of the subscripts, e.g. per layer).
    | CShared of (Ident * Expr list) option * SourceRange

/// A tensor's role keyword.
type RoleKw =
    | KWeight
    | KInput
    | KConst

/// The size of a declared index: an expression, or `dynamic` with an optional nominal size for planning.
type DimExpr =
    | DimOf of Expr
    | DimDynamic of Expr option * SourceRange

/// The right side of a cut: explicit legs, or `rest` (every other output leg).
type CutSide =
    | CutLegs of LegList
    | CutRest of SourceRange

/// `INNER = OUTER for …` inside an instance: the sub-network's open leg INNER is this network's index OUTER.
type Binding =
    { Inner: IndexRef
      Outer: IndexRef
      For: ForClause option
      Range: SourceRange }

/// A declaration inside a network body.
type Decl = { Kind: DeclKind; Range: SourceRange }

/// The forms a declaration takes.
and DeclKind =
    /// `let half = n / 2`.
    | DLet of Ident * Expr
    /// `[hyper] index p[i]: d for i in 0..n-1`.
    | DIndex of hyper: bool * name: Ident * subscripts: Expr list * dim: DimExpr * forClause: ForClause option
    /// `weight A[i]: (b[i], p[i], b[i+1]) for i in 1..n-2 init …`.
    | DTensor of RoleKw * name: Ident * subscripts: Expr list * legs: LegList * clauses: Clause list
    /// `output (p[0..n-1])`.
    | DOutput of LegList
    /// `cut half: p[0..n/2-1] | rest`.
    | DCut of Ident * LegList * CutSide
    /// `for x in 0..L-1, y in 0..L-1 { … }`.
    | DFor of ForClause * Decl list
    /// `instance enc: mera(L = 4) { p[i] = x[i] for i in 0..15 }`.
    | DInstance of name: Ident * network: Ident * args: (Ident * Expr) list * bindings: Binding list
    /// `require n % 2 == 0, "n must be even"`.
    | DRequire of Expr * string
    /// A declaration that failed to parse (already reported), with the names written in it: later phases do not
    /// report what follows from its absence (an unknown name it would have declared, a bond it would have used).
    | DBroken of words: string list

/// `network name(params) { body }`.
type NetworkDecl =
    { Name: Ident
      Params: ParamDecl list
      Body: Decl list
      Range: SourceRange }

/// `use "other.tn"`: makes the networks of another file available for `instance`.
type UseDecl = { Path: string; Range: SourceRange }

/// A whole `.tn` file.
type SourceFile =
    { Uses: UseDecl list
      Networks: NetworkDecl list }

/// Pushes an expression's direct operands onto `pending`: one step of a walk without recursion (expressions may
/// be as deep as the input is long).
let pushOperands (pending: System.Collections.Generic.Stack<Expr>) (x: Expr) =
    match x.Kind with
    | EUnary (_, a) -> pending.Push a
    | EBinary (_, a, b) ->
        pending.Push a
        pending.Push b
    | ECall (_, args) -> for a in args do pending.Push a
    | EIf (c, a, b) ->
        pending.Push c
        pending.Push a
        pending.Push b
    | _ -> ()

/// True when the expression has at most `n` nodes (counted without recursion, so any depth is safe).
let sizeAtMost (n: int) (e: Expr) =
    let pending = System.Collections.Generic.Stack<Expr>()
    pending.Push e
    let mutable count = 0
    while pending.Count > 0 && count <= n do
        let x = pending.Pop()
        count <- count + 1
        pushOperands pending x
    count <= n

/// Words that cannot be used as names.
let keywords =
    set
        [ "network"; "let"; "index"; "hyper"; "dynamic"; "weight"; "input"; "const"; "output"; "cut"; "rest"
          "for"; "in"; "if"; "then"; "else"; "by"; "init"; "embed"; "shared"; "use"; "instance"; "require"
          "int"; "float"; "bool"; "true"; "false"; "and"; "or"; "not" ]

/// The text of a binary operator.
let binOpText =
    function
    | Or -> "or"
    | And -> "and"
    | Eq -> "=="
    | Ne -> "!="
    | Lt -> "<"
    | Le -> "<="
    | Gt -> ">"
    | Ge -> ">="
    | Add -> "+"
    | Sub -> "-"
    | Mul -> "*"
    | Div -> "/"
    | Mod -> "%"
    | Pow -> "^"

/// Binding strength of a binary operator (higher binds tighter).
let precedence =
    function
    | Or -> 1
    | And -> 2
    | Eq
    | Ne
    | Lt
    | Le
    | Gt
    | Ge -> 4
    | Add
    | Sub -> 5
    | Mul
    | Div
    | Mod -> 6
    | Pow -> 8

/// Binding strength of a prefix operator: `not` sits between `and` and the comparisons, `-` between `*` and `^`.
let unaryPrecedence =
    function
    | Not -> 3
    | Neg -> 7
