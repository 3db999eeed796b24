/// The `.tn` parser (FParsec). FParsec types stay in this file: positions become `Pos` once, in `spanned`,
/// and failures become diagnostics. The parser recovers at declaration boundaries, so one run reports
/// every syntax error it can find rather than only the first.
module TnDsl.Parse

open System
open System.Collections.Generic
open FParsec
open TnDsl.Syntax

/// Diagnostic kinds of the parse phase (TN0001–TN0099).
module Codes =
    /// The text does not follow the grammar.
    let syntax = Diagnostic.kind Level.Error "TN0001" "syntax error"
    /// A `/*` comment that never ends.
    let unterminatedComment = Diagnostic.kind Level.Error "TN0002" "unterminated comment"
    /// An integer literal that does not fit in 64 bits.
    let numberTooLarge = Diagnostic.kind Level.Error "TN0003" "number too large"
    /// A keyword where a name is expected.
    let keywordAsName = Diagnostic.kind Level.Error "TN0004" "keyword used as a name"
    /// The same clause twice on one declaration (`init … init …`).
    let duplicateClause = Diagnostic.kind Level.Error "TN0005" "duplicate clause"
    /// A string literal with no closing quote.
    let unterminatedString = Diagnostic.kind Level.Error "TN0006" "unterminated string"
    /// Brackets or expressions nested deeper than any real network needs (the limit keeps every input bounded).
    let tooDeep = Diagnostic.kind Level.Error "TN0009" "nested too deeply"
    /// A choice between two legs written as an expression (`if c then a else b`, `a if c else b`): a leg is an index,
    /// optionally followed by `if CONDITION`.
    let conditionalLeg = Diagnostic.kind Level.Error "TN0012" "conditional expression as a leg"

/// How deep brackets, and expressions inside parentheses, calls and `if`, may nest.
let maxDepth = 256

/// Parser state: the end of the last token (so ranges exclude trailing blanks) and the diagnostics so far.
/// The list is shared on purpose: diagnostics recorded by a branch that later backtracks are deduplicated at the end.
type State =
    { LastEnd: Position
      Text: string
      Diagnostics: ResizeArray<Diagnostic>
      /// How deep expressions are nested at the current point (shared by every copy of the state).
      Depth: int ref }

type private P<'a> = Parser<'a, State>

let private toPos (p: Position) =
    { Line = int p.Line
      Col = int p.Column
      Offset = p.Index }

let private rangeOf (s: Position) (e: Position) =
    { File = s.StreamName
      Start = toPos s
      End = toPos e }

let private report kind (s: Position) (e: Position) message : P<unit> =
    fun stream ->
        stream.UserState.Diagnostics.Add(Diagnostic.make kind (rangeOf s e) message)
        Reply(())

// ---------------------------------------------------------------------------------------------------------
// Lexical helpers

let private blockComment: P<unit> =
    getPosition .>>? pstring "/*" >>= fun start ->
        fun stream ->
            let close = stream.UserState.Text.IndexOf("*/", int stream.Index, StringComparison.Ordinal)
            if close >= 0 then
                stream.SkipCharsOrNewlines(close + 2 - int stream.Index) |> ignore
                Reply(())
            else
                stream.SkipCharsOrNewlines(Int32.MaxValue) |> ignore
                let d = Diagnostic.make Codes.unterminatedComment (rangeOf start (start)) "this `/*` comment is never closed: add `*/`"
                stream.UserState.Diagnostics.Add({ d with Range = { d.Range with End = { d.Range.Start with Col = d.Range.Start.Col + 2; Offset = d.Range.Start.Offset + 2L } } })
                Reply(())

let private lineComment: P<unit> = pstring "//" >>. skipRestOfLine true

/// Skips blanks, line breaks and comments.
let ws: P<unit> = skipMany ((spaces1 <|> lineComment <|> blockComment) <?> "")

let private markEnd: P<unit> =
    getPosition >>= fun p -> updateUserState (fun s -> { s with LastEnd = p })

/// A token: the parser, then the end of the token is noted and trailing blanks skipped.
let private token (p: P<'a>) : P<'a> = p .>> markEnd .>> ws

/// The value of p with the range it covered, trailing blanks excluded. The only place ranges are made.
let spanned (p: P<'a>) : P<'a * SourceRange> =
    pipe2 getPosition (p .>>. getUserState) (fun s (x, st) -> x, rangeOf s st.LastEnd)

let private isIdChar c = Char.IsLetterOrDigit c || c = '_'

/// The UTF-16 length of the name character at `i` (a letter of any plane, `_`, or after the first character a
/// digit or combining mark), or 0 when there is none.
let private nameCharAt (text: string) (i: int) (first: bool) =
    if i >= text.Length then 0
    else
        match Text.Rune.TryGetRuneAt(text, i) with
        | true, r ->
            let ok =
                Text.Rune.IsLetter r || r.Value = int '_'
                || (not first
                    && (Text.Rune.IsDigit r
                        || (match Text.Rune.GetUnicodeCategory r with
                            | Globalization.UnicodeCategory.NonSpacingMark
                            | Globalization.UnicodeCategory.SpacingCombiningMark
                            | Globalization.UnicodeCategory.ConnectorPunctuation -> true
                            | _ -> false)))
            if ok then r.Utf16SequenceLength else 0
        | _ -> 0

/// Succeeds (consuming nothing) unless a name character follows: what ends a keyword.
let private notNameChar: P<unit> =
    fun stream ->
        if nameCharAt stream.UserState.Text (int stream.Index) false > 0 then Reply(Error, expected "end of word")
        else Reply(())

/// A punctuation symbol.
let sym (s: string) : P<unit> = token (skipString s) <?> ("`" + s + "`")

/// A keyword: the word, not followed by more name characters.
let kw (s: string) : P<unit> = token (attempt (skipString s .>> notNameChar)) <?> ("`" + s + "`")

/// A name: a letter (any Unicode letter, astral planes included) or `_`, then letters, digits, marks and `_`.
let private rawWord: P<string> =
    fun stream ->
        let text = stream.UserState.Text
        let start = int stream.Index
        let mutable i = start
        let mutable n = nameCharAt text i true
        while n > 0 do
            i <- i + n
            n <- nameCharAt text i false
        if i = start then Reply(Error, expected "name")
        else
            stream.Skip(i - start)
            Reply(text.Substring(start, i - start))

/// A name that is not a keyword. A keyword here is an error of its own, so the message says so.
let ident: P<Ident> =
    let word: P<string> =
        fun stream ->
            let st = stream.State
            let reply = rawWord stream
            if reply.Status = Ok && keywords.Contains reply.Result then
                stream.BacktrackTo st
                Reply(Error, messageError (sprintf "TN0004|`%s` is a keyword and cannot be used as a name" reply.Result))
            else
                reply
    spanned (token word) |>> fun (n, r) -> { Name = n; Range = r }

/// A name with optional dotted qualifiers: `top`, `enc.top`.
let qualifiedIdent: P<Ident> =
    spanned (token (sepBy1 (rawWord >>= fun w -> if keywords.Contains w then fail ("TN0004|`" + w + "` is a keyword and cannot be used as a name") else preturn w) (attempt (pchar '.' >>? followedBy rawWord))))
    |>> fun (parts, r) -> { Name = String.Join(".", parts); Range = r }

/// A number: digits, optionally a fraction (a digit must follow the point, so `0..n` reads as a range) and an exponent.
let private number: P<ExprKind> =
    let digits = many1Satisfy isDigit
    let fraction = attempt (pchar '.' >>. digits) |>> fun d -> "." + d
    let exponent =
        attempt (anyOf "eE" >>. opt (anyOf "+-") .>>. digits)
        |>> fun (s, d) -> "e" + (s |> Option.map string |> Option.defaultValue "") + d
    getPosition .>>. (digits .>>. opt fraction .>>. opt exponent) .>>. getPosition
    >>= fun ((s, ((whole, frac), exp)), e) ->
        match frac, exp with
        | None, None ->
            match Int64.TryParse whole with
            | true, v -> preturn (EInt v)
            | _ ->
                report Codes.numberTooLarge s e (sprintf "the integer %s does not fit in 64 bits" whole)
                >>% EError whole
        | _ ->
            let text = whole + defaultArg frac "" + defaultArg exp ""
            preturn (EFloat(Double.Parse(text, Globalization.CultureInfo.InvariantCulture)))

let private stringLiteral: P<string> =
    let body = manySatisfy (fun c -> c <> '"' && c <> '\n')
    getPosition .>>? pchar '"' .>>. body .>>. getPosition
    >>= fun ((s, text), e) ->
        (pchar '"' >>% text)
        <|> (report Codes.unterminatedString s e "this string is never closed: add `\"`" >>% text)

// ---------------------------------------------------------------------------------------------------------
// Expressions

let private mkExpr (k: ExprKind, r) : Expr = { Kind = k; Range = r }

// Expressions nest (parentheses, call arguments, `if`), so the term parser reaches the expression parser through a
// reference. Operator chains are parsed by a loop with explicit stacks (`operators` below), so a chain as long as
// the input (a sum of a million terms, a million nested `-`) never deepens the thread's stack.
let private exprRef = ref (Unchecked.defaultof<P<Expr>>)

// An expression nested inside another (in parentheses, a call or an `if`): counted against `maxDepth`.
let private nested: P<Expr> =
    fun stream ->
        let depth = stream.UserState.Depth
        if depth.Value >= maxDepth then
            Reply(FatalError, messageError (sprintf "TN0009|expressions nested more than %d deep" maxDepth))
        else
            depth.Value <- depth.Value + 1
            try exprRef.Value stream finally depth.Value <- depth.Value - 1

let private term: P<Expr> =
    let call (id: Ident) =
        between (sym "(") (sym ")") (sepBy nested (sym ","))
        |>> fun args -> ECall(id, args)
    let variable =
        ident >>= fun id -> (call id <|> preturn (EVar id.Name))
    let ifExpr =
        kw "if" >>. nested .>> kw "then" .>>. nested .>> kw "else" .>>. nested
        |>> fun ((c, a), b) -> EIf(c, a, b)
    let parens = between (sym "(") (sym ")") nested |>> fun e -> e.Kind
    choice
        [ spanned (token number) |>> mkExpr
          spanned (kw "true" >>% EBool true) |>> mkExpr
          spanned (kw "false" >>% EBool false) |>> mkExpr
          spanned ifExpr |>> mkExpr
          spanned parens |>> mkExpr
          spanned variable |>> mkExpr ]

type private Pending =
    | PrefixOp of UnOp * Pos
    | InfixOp of BinOp

// Longer operators first, so that `<=` is not read as `<`.
let private infixOps =
    [ "or", Or; "and", And; "==", Eq; "!=", Ne; "<=", Le; ">=", Ge; "<", Lt; ">", Gt; "+", Add; "-", Sub; "*", Mul
      "/", Div; "%", Mod; "^", Pow ]

/// Reads the operator `text` at the current position (a word operator must end there), then blanks.
let private tryOperator (stream: CharStream<State>) (text: string) =
    if stream.Match text && (not (Char.IsLetter text[0]) || nameCharAt stream.UserState.Text (int stream.Index + text.Length) false = 0) then
        stream.Skip text.Length
        ws stream |> ignore
        true
    else
        false

/// Operator-precedence parsing with explicit stacks: prefix operators and operands alternate with infix
/// operators; an operator is applied once one that binds less tightly follows (`^` is right-associative).
let private operators: P<Expr> =
    fun stream ->
        let operands = Stack<Expr>()
        let pending = Stack<Pending>()
        let apply () =
            match pending.Pop() with
            | PrefixOp (op, start) ->
                let x = operands.Pop()
                operands.Push({ Kind = EUnary(op, x); Range = { x.Range with Start = start } })
            | InfixOp op ->
                let r = operands.Pop()
                let l = operands.Pop()
                operands.Push({ Kind = EBinary(op, l, r); Range = Range.union l.Range r.Range })
        let mutable failure: Reply<Expr> option = None
        let mutable more = true
        while more do
            // Operand position: prefix operators, then a term.
            let mutable prefix = true
            while prefix do
                let p = stream.Position
                let at = { Line = int p.Line; Col = int p.Column; Offset = p.Index }
                if tryOperator stream "-" then pending.Push(PrefixOp(Neg, at))
                elif tryOperator stream "not" then pending.Push(PrefixOp(Not, at))
                else prefix <- false
            let r = term stream
            if r.Status <> Ok then
                failure <- Some(Reply(r.Status, r.Error))
                more <- false
            else
                operands.Push r.Result
                match infixOps |> List.tryFind (fun (text, _) -> tryOperator stream text) with
                | None -> more <- false
                | Some (_, op) ->
                    let p = precedence op
                    let binds =
                        function
                        | PrefixOp (u, _) -> unaryPrecedence u > p
                        | InfixOp q -> precedence q > p || (precedence q = p && op <> Pow)
                    while pending.Count > 0 && binds (pending.Peek()) do
                        apply ()
                    pending.Push(InfixOp op)
        match failure with
        | Some f -> f
        | None ->
            while pending.Count > 0 do
                apply ()
            Reply(operands.Pop())

exprRef.Value <- operators

/// An expression.
let expr: P<Expr> = operators <?> "expression"

/// `from..to [by step]`.
let rangeExpr: P<RangeExpr> =
    spanned (expr .>> sym ".." .>>. expr .>>. opt (kw "by" >>. expr))
    |>> fun (((a, b), s), r) -> { From = a; To = b; Step = s; Range = r }

// ---------------------------------------------------------------------------------------------------------
// Index references, legs and clauses

let private subscript: P<Subscript> =
    spanned (expr .>>. opt (sym ".." >>. expr .>>. opt (kw "by" >>. expr)))
    |>> fun ((a, rest), r) ->
        match rest with
        | None -> SAt a
        | Some (b, s) -> SSlice { From = a; To = b; Step = s; Range = r }

/// `b[i+1]`, `p[0..n-1]`, `h[x, y]`, `enc.top`.
let indexRef: P<IndexRef> =
    spanned (qualifiedIdent .>>. opt (between (sym "[") (sym "]") (sepBy1 subscript (sym ","))))
    |>> fun ((name, subs), r) -> { Name = name; Subscripts = defaultArg subs []; Range = r }

/// The message of a failure whose diagnostic the parser has already recorded: recovery adds none of its own.
let private reported = "reported|"

/// The text a range covers.
let private sourceOf (stream: CharStream<State>) (r: SourceRange) =
    stream.UserState.Text.Substring(int r.Start.Offset, int (r.End.Offset - r.Start.Offset))

/// Records a leg written as a conditional expression (at `range`, choosing `a` when `c` holds, else `b` if there is
/// one) as one error whose hint writes it in the form the language has, then fails as already reported: the
/// declaration is skipped, so nothing else is said about it.
let private conditionalLeg (stream: CharStream<State>) (range: SourceRange) (written: string) (c: Expr) (a: IndexRef) (b: IndexRef option) : Reply<Leg> =
    let text = sourceOf stream
    let cond = text c.Range
    // `not` binds less tightly than the comparisons and more than `and`/`or`, so only those are parenthesised.
    let holds, fails =
        match c.Kind with
        | EUnary (Not, x) -> cond, text x.Range
        | EBinary ((And | Or), _, _) -> cond, "not (" + cond + ")"
        | EIf _ -> "(" + cond + ")", "not (" + cond + ")"
        | _ -> cond, "not " + cond
    let message = sprintf "a leg cannot be written `%s`: a leg is an index, optionally followed by `if CONDITION`" written
    let hint =
        match b with
        | Some b -> sprintf "to choose between two legs, give each its condition: `%s if %s, %s if %s`" (text a.Range) holds (text b.Range) fails
        | None -> sprintf "write `%s if %s`" (text a.Range) holds
    stream.UserState.Diagnostics.Add(Diagnostic.make Codes.conditionalLeg range message |> Diagnostic.withHint hint)
    Reply(FatalError, messageError reported)

/// `a` or `b[i] if i > 0`. A following `else` (`a if c else b`) is the conditional expression of other languages:
/// reported as such.
let private leg: P<Leg> =
    let plain =
        spanned (indexRef .>>. opt (kw "if" >>. expr))
        |>> fun ((ref, cond), r) -> { Ref = ref; Cond = cond; Range = r }
    fun stream ->
        let reply = plain stream
        match reply.Status, (if reply.Status = Ok then reply.Result.Cond else None) with
        | Ok, Some c ->
            let before = stream.State
            let other = (kw "else" >>. indexRef) stream
            if other.Status = Ok then
                let l = reply.Result
                conditionalLeg stream (Range.union l.Range other.Result.Range) "… if … else …" c l.Ref (Some other.Result)
            elif stream.StateTag = before.Tag then reply
            else Reply(other.Status, other.Error)
        | _ -> reply

/// A conditional expression where a leg belongs, `if c then a else b`, in parentheses or not: `if` cannot start a
/// leg, nor `(`. Tried before a leg, it fails without consuming (and without adding to what is expected there)
/// unless an `if` follows the parentheses.
let private ifLeg: P<Leg> =
    let body =
        spanned (many (sym "(") .>> kw "if" >>= fun opened ->
                     expr .>> kw "then" .>>. indexRef .>>. opt (kw "else" >>. indexRef) .>> parray opened.Length (sym ")"))
    fun stream ->
        let before = stream.State
        let opens = (many (sym "(") .>> kw "if") stream
        stream.BacktrackTo before
        if opens.Status <> Ok then Reply(Error, NoErrorMessages)
        else
            let reply = body stream
            if reply.Status <> Ok then Reply(reply.Status, reply.Error)
            else
                let ((c, a), b), r = reply.Result
                conditionalLeg stream r (if b.IsSome then "if … then … else …" else "if … then …") c a b

/// `(a, b[i], h[x-1, y] if x > 0)`.
let legList: P<LegList> =
    spanned (between (sym "(") (sym ")") (sepBy (ifLeg <|> leg) (sym ",")))
    |>> fun (legs, r) -> { Legs = legs; Range = r }

let private binder: P<Binder> = ident .>> kw "in" .>>. rangeExpr |>> fun (v, over) -> { Var = v; Over = over }

/// `for i in 0..n-1, j in 0..m-1 if i != j`.
let forClause: P<ForClause> =
    spanned (kw "for" >>. sepBy1 binder (sym ",") .>>. opt (kw "if" >>. expr))
    |>> fun ((bs, filter), r) -> { Binders = bs; Filter = filter; Range = r }

// A `for` clause after a declaration, unless a `{` follows: then it starts a `for` block of its own.
let private oneTrailingFor: P<ForClause> = attempt (forClause .>> notFollowedBy (pchar '{'))

// The hint for loops written as clauses of their own (`for x in a..b for y in c..d`): the one clause they make.
let private oneForHint (stream: CharStream<State>) (fors: ForClause list) =
    let binder (b: Binder) = sourceOf stream { b.Var.Range with End = b.Over.Range.End }
    sprintf "a declaration takes one `for`: list its loop variables in it, `for %s`"
        (String.Join(", ", fors |> List.collect (fun f -> f.Binders) |> List.map binder))

/// A declaration's `for` clause. Loops written as clauses of their own, as a comprehension nests them
/// (`for x in 0..L-1 for y in 0..L-1`), are one error at the second `for`, and are kept as the one clause they
/// mean (`for x in 0..L-1, y in 0..L-1`, filters joined by `and`), so nothing else is reported about them.
let private trailingFor: P<ForClause> =
    oneTrailingFor .>>. many oneTrailingFor
    >>= fun (first, more) ->
        fun stream ->
            match more with
            | [] -> Reply first
            | second :: _ ->
                let all = first :: more
                let range = Range.union second.Range (List.last more).Range
                let d = Diagnostic.make Codes.duplicateClause range "`for` is given twice on this declaration"
                stream.UserState.Diagnostics.Add(d |> Diagnostic.withHint (oneForHint stream all))
                let filter =
                    match all |> List.choose (fun f -> f.Filter) with
                    | [] -> None
                    | fs -> Some(fs |> List.reduce (fun a b -> { Kind = EBinary(And, a, b); Range = Range.union a.Range b.Range }))
                Reply { Binders = all |> List.collect (fun f -> f.Binders); Filter = filter; Range = Range.union first.Range range }

let private args: P<Expr list> = between (sym "(") (sym ")") (sepBy expr (sym ","))

/// An initialiser: `normal(0, 0.1)`, `identity + normal(0, 0.01)`, `copy`, `0.5`, `-1`.
let initExpr: P<InitExpr> =
    let named = ident .>>. opt args |>> fun (id, a) -> IName(id, defaultArg a [])
    let num =
        spanned (opt (sym "-") .>>. token number)
        |>> fun ((neg, k), r) ->
            let e: Expr = { Kind = k; Range = r }
            INumber(if neg.IsSome then ({ Kind = EUnary(Neg, e); Range = r }: Expr) else e)
    let single = spanned (named <|> num) |>> fun (k, r) -> ({ Kind = k; Range = r }: InitExpr)
    chainl1 single (sym "+" >>% fun a b -> ({ Kind = ISum(a, b); Range = Range.union a.Range b.Range }: InitExpr))

let private embedExpr: P<EmbedExpr> =
    spanned (ident .>>. opt args) |>> fun ((id, a), r) -> { Name = id; Args = defaultArg a []; Range = r }

let private headSubscripts: P<Expr list> =
    opt (between (sym "[") (sym "]") (sepBy1 expr (sym ","))) |>> Option.defaultValue []

let private clause: P<Clause> =
    choice
        [ trailingFor |>> CFor
          kw "init" >>. initExpr |>> CInit
          sym "=" >>. initExpr |>> CInit
          kw "embed" >>. embedExpr |>> CEmbed
          spanned (kw "shared" >>. opt (ident .>>. headSubscripts)) |>> CShared ]

let private clauseName =
    function
    | CFor _ -> "for"
    | CInit _ -> "init"
    | CEmbed _ -> "embed"
    | CShared _ -> "shared"

let private clauseRange =
    function
    | CFor f -> f.Range
    | CInit i -> i.Range
    | CEmbed e -> e.Range
    | CShared (_, r) -> r

// Every clause may appear once; a repeat is reported at the repeat, and the declaration is kept.
let private clauses: P<Clause list> =
    many clause
    >>= fun cs ->
        fun stream ->
            cs
            |> List.groupBy clauseName
            |> List.iter (fun (name, group) ->
                for c in List.tail group do
                    let d = Diagnostic.make Codes.duplicateClause (clauseRange c) (sprintf "`%s` is given twice on this declaration" name)
                    let hint =
                        match c with
                        | CFor _ -> oneForHint stream (group |> List.choose (function CFor f -> Some f | _ -> None))
                        | CInit _ -> "keep one; an initialiser sum is written `identity + normal(0, 0.01)`"
                        | _ -> "keep one"
                    stream.UserState.Diagnostics.Add(d |> Diagnostic.withHint hint))
            Reply(cs)

// ---------------------------------------------------------------------------------------------------------
// Declarations

let private paramType: P<ParamType> = choice [ kw "int" >>% TInt; kw "float" >>% TFloat; kw "bool" >>% TBool ] <?> "a type (`int`, `float` or `bool`)"

let private param: P<ParamDecl> =
    spanned (ident .>> sym ":" .>>. paramType .>>. opt (sym "=" >>. expr))
    |>> fun (((name, ty), def), r) -> { Name = name; Type = ty; Default = def; Range = r }

let private dimExpr: P<DimExpr> =
    (spanned (kw "dynamic" >>. opt (between (sym "(") (sym ")") expr)) |>> DimDynamic)
    <|> (expr |>> DimOf)

// Declarations nest (`for … { decls }`), so the declaration parser is forwarded through a reference.
let private declRef = ref (Unchecked.defaultof<P<Decl>>)
let private decl: P<Decl> = fun stream -> declRef.Value stream

/// Words that start a declaration: the points where recovery resumes after an error.
let declKeywords = [ "let"; "index"; "hyper"; "weight"; "input"; "const"; "output"; "cut"; "for"; "instance"; "require" ]

let private formatError (errors: ErrorMessageList) =
    let items = ErrorMessageList.ToSortedArray errors
    let messages =
        items
        |> Array.choose (function
            | :? ErrorMessage.Message as m -> Some m.String
            | _ -> None)
        |> Array.distinct
    let plain = messages |> Array.filter (fun m -> not (m.StartsWith "TN0004|") && not (m.StartsWith "TN0009|"))
    let expected =
        items
        |> Array.choose (function
            | :? ErrorMessage.Expected as e when e.Label <> "" -> Some e.Label
            | :? ErrorMessage.ExpectedString as e -> Some("`" + e.String + "`")
            | _ -> None)
        |> Array.distinct
    let keyword =
        messages
        |> Array.tryFind (fun m -> m.StartsWith "TN0004|")
        |> Option.filter (fun m -> not (expected |> Array.exists (fun e -> m.Contains e)))
    match messages |> Array.tryFind (fun m -> m.StartsWith "TN0009|"), keyword with
    | Some m, _ -> Codes.tooDeep, m.Substring 7
    | None, Some m -> Codes.keywordAsName, m.Substring 7
    | None, None ->
        let exp =
            match expected with
            | [||] -> ""
            | [| one |] -> "expected " + one
            | many -> "expected " + String.Join(", ", many[.. many.Length - 2]) + " or " + many[many.Length - 1]
        let text = String.Join("; ", Array.append (if exp = "" then [||] else [| exp |]) plain)
        Codes.syntax, (if text = "" then "unexpected text" else text)

let private foundText (stream: CharStream<State>) =
    if stream.IsEndOfStream then "end of file"
    else
        let c = stream.Peek()
        if isIdChar c then
            let s = stream.PeekString 40
            let n = s |> Seq.takeWhile isIdChar |> Seq.length
            "`" + s.Substring(0, n) + "`"
        elif c = '\n' || c = '\r' then "end of line"
        // Invisible or replaced characters are named, as a caret under them shows nothing.
        elif c = '\uFFFD' then "`\uFFFD` (bytes that are not UTF-8: save the file as UTF-8)"
        elif Char.IsControl c || Char.IsWhiteSpace c then sprintf "the character U+%04X" (int c)
        else "`" + string c + "`"

/// The names written in a stretch of text that failed to parse (keywords left out).
let private wordsIn (text: string) =
    Text.RegularExpressions.Regex.Matches(text, @"[\p{L}_][\p{L}\p{Nd}_]*")
    |> Seq.map (fun m -> m.Value)
    |> Seq.filter (fun w -> not (keywords.Contains w))
    |> Seq.distinct
    |> List.ofSeq

/// Runs p; on failure records a diagnostic at the failure point and skips to the next line that starts with one of
/// the `resume` words (or `}` inside a block), so that parsing goes on and later errors are found too. A failure
/// gives the names written in the skipped text.
let private recovering (resume: string list) (inBlock: bool) (p: P<'a>) : P<Choice<'a, string list>> =
    fun stream ->
        let start = stream.Index
        let reply = p stream
        if reply.Status = Ok then
            Reply(Choice1Of2 reply.Result)
        else
            let kind, message = formatError reply.Error
            let here = stream.Position
            let found = foundText stream
            // At the end of the file the range is empty (it must not reach past the text).
            let width = if stream.IsEndOfStream then 0 elif found.StartsWith "`" && found.EndsWith "`" then max 1 (found.Length - 2) else 1
            let endPos = Position(here.StreamName, here.Index + int64 width, here.Line, here.Column + int64 width)
            let msg = if kind = Codes.syntax then sprintf "%s, found %s" message found else message
            // A keyword used as a name is one mistake however often the name is written: its first place (the
            // declaration, as a rule) is reported, and each later use of the same keyword is skipped silently.
            let repeated =
                kind = Codes.keywordAsName
                && stream.UserState.Diagnostics |> Seq.exists (fun d -> d.Kind = Codes.keywordAsName && d.Message = msg)
            // A `/*` never closed runs to the end of the file: what is then missing there is its consequence.
            let afterOpenComment =
                stream.IsEndOfStream && stream.UserState.Diagnostics |> Seq.exists (fun d -> d.Kind = Codes.unterminatedComment)
            // A failure whose diagnostic is already recorded (a leg written as a conditional expression).
            let recorded =
                ErrorMessageList.ToSortedArray reply.Error
                |> Array.exists (function
                    | :? ErrorMessage.Message as m -> m.String = reported
                    | _ -> false)
            // An `if` where a declaration should start follows one that is complete: a condition meant for that
            // declaration (`weight B: (a) if flag`, `index h[x]: 3 if x < L-1`), which only a `for` clause's filter
            // expresses.
            let conditional = inBlock && kind = Codes.syntax && stream.Index = start && found = "`if`"
            if not repeated && not afterOpenComment && not recorded then
                if conditional then
                    let d = Diagnostic.make kind (rangeOf here endPos) "a declaration is made conditional by the filter of its `for` clause, not by an `if` after it"
                    stream.UserState.Diagnostics.Add(
                        d |> Diagnostic.withHint "give it a `for` clause with the condition as its filter: `for i in 0..n-1 if i != 4`, or `for k in 0..0 if flag` for one declaration")
                else
                    stream.UserState.Diagnostics.Add(Diagnostic.make kind (rangeOf here endPos) msg)
            let startsResume () =
                let line = stream.PeekString 200
                let trimmed = line.TrimStart(' ', '\t')
                // At the top level a `}` closes the body of the network whose header failed: not a place to resume.
                (inBlock && trimmed.StartsWith "}")
                || resume
                   |> List.exists (fun w ->
                       trimmed.StartsWith w
                       && (trimmed.Length = w.Length || not (isIdChar trimmed[w.Length])))
            // Skip the rest of the failing line, unless the error sits at the start of a line that begins a new
            // declaration (the previous one ran on); then whole lines until one starts a declaration or closes a block.
            let text = stream.UserState.Text
            let idx = int stream.Index
            let lineStart = if idx = 0 then 0 else text.LastIndexOf('\n', idx - 1) + 1
            let onlyBlanksBefore = text.Substring(lineStart, idx - lineStart).Trim(' ', '\t') = ""
            if stream.Index = start || not onlyBlanksBefore || not (startsResume ()) then
                stream.SkipRestOfLine(true)
            while not stream.IsEndOfStream && not (startsResume ()) do
                stream.SkipRestOfLine(true)
            let skipped = text.Substring(int start, int (stream.Index - start))
            stream.SkipWhitespace() |> ignore
            Reply(Choice2Of2(wordsIn skipped))

/// A `{ … }` block of declarations, recovering after each bad one.
let private block: P<Decl list> =
    let item =
        getPosition .>>. recovering declKeywords true (decl .>> optional (sym ";")) .>>. getPosition
        |>> fun ((s, r), e) ->
            match r with
            | Choice1Of2 d -> d
            | Choice2Of2 words -> { Kind = DBroken words; Range = rangeOf s e }
    sym "{" >>. many (notFollowedBy (pchar '}') >>. notFollowedBy eof >>. item) .>> (sym "}" <?> "`}` closing the block")

let private binding: P<Binding> =
    spanned (indexRef .>> sym "=" .>>. indexRef .>>. opt trailingFor .>> optional (sym "," <|> sym ";"))
    |>> fun (((inner, outer), f), r) -> { Inner = inner; Outer = outer; For = f; Range = r }

let private declKinds: P<DeclKind> =
    let role = choice [ kw "weight" >>% KWeight; kw "input" >>% KInput; kw "const" >>% KConst ]
    let cutSide = (spanned (kw "rest") |>> (snd >> CutRest)) <|> (spanned (sepBy1 leg (sym ",")) |>> fun (ls, r) -> CutLegs { Legs = ls; Range = r })
    let instanceArg = ident .>> sym "=" .>>. expr
    choice
        [ kw "let" >>. ident .>> sym "=" .>>. expr |>> DLet
          (opt (kw "hyper") .>> kw "index" .>>. ident .>>. headSubscripts .>> sym ":" .>>. dimExpr .>>. opt trailingFor
           |>> fun ((((h, name), subs), dim), f) -> DIndex(h.IsSome, name, subs, dim, f))
          (role .>>. ident .>>. headSubscripts .>> sym ":" .>>. legList .>>. clauses
           |>> fun ((((r, name), subs), legs), cs) -> DTensor(r, name, subs, legs, cs))
          kw "output" >>. legList |>> DOutput
          (kw "cut" >>. ident .>> sym ":" .>>. (spanned (sepBy1 leg (sym ",")) |>> fun (ls, r) -> { Legs = ls; Range = r }) .>> sym "|" .>>. cutSide
           |>> fun ((name, left), right) -> DCut(name, left, right))
          forClause .>>. block |>> DFor
          (kw "instance" >>. ident .>> sym ":" .>>. qualifiedIdent .>>. opt (between (sym "(") (sym ")") (sepBy instanceArg (sym ",")))
           .>>. opt (sym "{" >>. many binding .>> sym "}")
           |>> fun (((name, net), a), b) -> DInstance(name, net, defaultArg a [], defaultArg b []))
          kw "require" >>. expr .>> sym "," .>>. token stringLiteral |>> DRequire ]
    <?> "a declaration (`let`, `index`, `weight`, `input`, `const`, `output`, `cut`, `for`, `instance` or `require`)"

declRef.Value <- spanned declKinds |>> fun (k, r) -> ({ Kind = k; Range = r }: Decl)

let private network: P<NetworkDecl> =
    spanned (kw "network" >>. ident .>>. opt (between (sym "(") (sym ")") (sepBy param (sym ","))) .>>. block)
    |>> fun (((name, ps), body), r) -> { Name = name; Params = defaultArg ps []; Body = body; Range = r }

let private useDecl: P<UseDecl> = spanned (kw "use" >>. token stringLiteral) |>> fun (p, r) -> { Path = p; Range = r }

type private TopItem =
    | TUse of UseDecl
    | TNetwork of NetworkDecl

let private sourceFile: P<SourceFile> =
    let item = recovering [ "network"; "use" ] false ((useDecl |>> TUse) <|> (network |>> TNetwork) <?> "`network` or `use`")
    ws >>. many (notFollowedBy eof >>. item) .>> eof
    |>> fun items ->
        let items = items |> List.choose (function Choice1Of2 i -> Some i | Choice2Of2 _ -> None)
        { Uses = items |> List.choose (function TUse u -> Some u | _ -> None)
          Networks = items |> List.choose (function TNetwork n -> Some n | _ -> None) }

let private dedupe (ds: seq<Diagnostic>) =
    ds |> Seq.distinctBy (fun d -> d.Kind.Code, d.Range.Start.Offset, d.Message) |> List.ofSeq

/// Parses a whole `.tn` text. Always returns a file (possibly missing the declarations that failed) and the
/// diagnostics found; never throws on any input.
let parseText (file: string) (text: string) : SourceFile * Diagnostic list =
    // Brackets nested beyond any real network are refused up front, so that no input can exhaust the stack.
    let mutable depth = 0
    let mutable tooDeep = -1
    let mutable k = 0
    while tooDeep < 0 && k < text.Length do
        match text[k] with
        | '(' | '[' | '{' ->
            depth <- depth + 1
            if depth > maxDepth then tooDeep <- k
        | ')' | ']' | '}' -> depth <- max 0 (depth - 1)
        | _ -> ()
        k <- k + 1
    if tooDeep >= 0 then
        let before = text.Substring(0, tooDeep)
        let line = before.Split('\n').Length
        let col = tooDeep - (before.LastIndexOf '\n' + 1) + 1
        let pos = { Line = line; Col = col; Offset = int64 tooDeep }
        let range = { File = file; Start = pos; End = { pos with Col = col + 1; Offset = pos.Offset + 1L } }
        { Uses = []; Networks = [] }, [ Diagnostic.make Codes.tooDeep range (sprintf "brackets nested more than %d deep" maxDepth) ]
    else
    let state = { LastEnd = Position(file, 0L, 1L, 1L); Text = text; Diagnostics = ResizeArray(); Depth = ref 0 }
    match runParserOnString sourceFile state file text with
    | Success (f, st, _) -> f, dedupe st.Diagnostics
    | Failure (_, err, st) ->
        // Only reachable if recovery itself fails; report it as a syntax error where FParsec stopped.
        let d = Diagnostic.make Codes.syntax (rangeOf err.Position err.Position) "unexpected text"
        { Uses = []; Networks = [] }, dedupe (Seq.append st.Diagnostics [ d ])

/// Parses a single expression (for `--set` values and tests).
let parseExpr (file: string) (text: string) : Result<Expr, Diagnostic list> =
    let state = { LastEnd = Position(file, 0L, 1L, 1L); Text = text; Diagnostics = ResizeArray(); Depth = ref 0 }
    match runParserOnString (ws >>. expr .>> eof) state file text with
    | Success (e, st, _) when st.Diagnostics.Count = 0 -> Result.Ok e
    | Success (_, st, _) -> Result.Error(dedupe st.Diagnostics)
    | Failure (_, err, _) ->
        let kind, message = formatError err.Messages
        Result.Error [ Diagnostic.make kind (rangeOf err.Position err.Position) message ]
