/// What elaboration shares between its steps: the phase's diagnostic codes, its limits, the result it hands to
/// the checks (`Elaborated`), and `Ctx`, the state of one network's elaboration (names in scope, declared
/// indices and tensors, the work done so far, the diagnostics).
module TnDsl.Elaboration

open System
open System.Collections.Generic
open TnDsl.Syntax

/// Diagnostic kinds of the elaboration phase (TN0100–TN0199).
module Codes =
    /// A name that is not a parameter, `let`, loop variable or function.
    let unknownName = Diagnostic.kind Level.Error "TN0100" "unknown name"
    /// A name declared twice in one scope.
    let duplicateName = Diagnostic.kind Level.Error "TN0101" "duplicate name"
    /// A `--set` or instance argument whose value has the wrong type for the parameter.
    let overrideType = Diagnostic.kind Level.Error "TN0102" "parameter value of the wrong type"
    /// A `--set` or instance argument for a parameter the network does not have.
    let unknownParameter = Diagnostic.kind Level.Error "TN0103" "unknown parameter"
    /// A parameter with no default and no value given.
    let missingParameter = Diagnostic.kind Level.Error "TN0104" "parameter has no value"
    /// Division or remainder by zero.
    let divisionByZero = Diagnostic.kind Level.Error "TN0105" "division by zero"
    /// A value of the wrong type: a float where an integer is needed, a number where a condition is needed.
    let typeMismatch = Diagnostic.kind Level.Error "TN0106" "type mismatch"
    /// An index dimension that is zero or negative.
    let badDimension = Diagnostic.kind Level.Error "TN0107" "dimension must be positive"
    /// A leg naming an index family that is not declared.
    let unknownIndex = Diagnostic.kind Level.Error "TN0109" "unknown index"
    /// A leg naming a family member outside the family's declared members.
    let memberOutOfRange = Diagnostic.kind Level.Error "TN0110" "index family member out of range"
    /// A family referenced with the wrong number of subscripts.
    let subscriptCount = Diagnostic.kind Level.Error "TN0111" "wrong number of subscripts"
    /// A loop, family, slice, instance or whole network larger than the expansion limits.
    let tooLarge = Diagnostic.kind Level.Error "TN0112" "too large to expand"
    /// An instance of a network that is not declared or used.
    let unknownNetwork = Diagnostic.kind Level.Error "TN0114" "unknown network"
    /// A `require` whose condition is false.
    let requireFailed = Diagnostic.kind Level.Error "TN0115" "requirement not met"
    /// The same tensor family member declared twice.
    let duplicateTensor = Diagnostic.kind Level.Error "TN0116" "tensor declared twice"
    /// The same index family member declared twice.
    let duplicateIndex = Diagnostic.kind Level.Error "TN0117" "index declared twice"
    /// Integer arithmetic that overflows 64 bits.
    let overflow = Diagnostic.kind Level.Error "TN0118" "arithmetic overflow"
    /// A network that instantiates itself, directly or through others.
    let recursiveInstance = Diagnostic.kind Level.Error "TN0119" "recursive instantiation"
    /// An instance binding whose inner side is not an open leg of the sub-network.
    let badBinding = Diagnostic.kind Level.Error "TN0120" "binding does not name an open leg"
    /// A call of an unknown function, or with the wrong number of arguments.
    let badCall = Diagnostic.kind Level.Error "TN0121" "bad function call"
    /// A range whose step is zero.
    let badStep = Diagnostic.kind Level.Error "TN0122" "range step is zero"
    /// An initialiser or embedding that is unknown or has bad arguments.
    let badInit = Diagnostic.kind Level.Error "TN0123" "bad initialiser or embedding"
    /// A clause that does not apply to the declaration (`embed` on a weight, `init` on an input).
    let badClause = Diagnostic.kind Level.Error "TN0124" "clause does not apply here"
    /// More than one `output` declaration.
    let duplicateOutput = Diagnostic.kind Level.Error "TN0125" "output declared twice"
    /// An instance binding joining indices of different dimensions.
    let bindingDimension = Diagnostic.kind Level.Error "TN0126" "binding joins different dimensions"
    /// A parameter or `let` that nothing uses.
    let unusedName = Diagnostic.kind Level.Warning "TN0130" "unused name"

/// Limits that keep elaboration bounded on any input. Each is checked before the work it counts is done.
type Options =
    {
        /// The most tensors (and loop iterations per declaration) a network may expand to.
        MaxTensors: int
        /// The most legs all the network's tensors may have together (slices expanded, instances included).
        MaxLegs: int64
    }

/// The default limits: 10^6 tensors and 10^7 legs.
let defaultOptions = { MaxTensors = 1_000_000; MaxLegs = 10_000_000L }

/// How deep instances may nest (a network instantiating one that instantiates another, …).
let maxInstanceDepth = 64

/// The tensor member that a one-variable tensor loop (`for i in a..b`, no filter, no step) would make one step
/// before its first value or after its last, with the index members its legs would name there. A loop written one
/// short leaves that member out: its legs' indices are then on one tensor or none, one mistake that `Check`
/// reports once, at the loop.
type LoopEdge =
    { Family: string
      Subscripts: int list
      /// The legs' index members (family, subscripts), in leg order.
      Legs: (string * int list) list
      For: ForClause
      /// The loop value that would make the member: one below the loop's first value, or one above its last.
      Value: int64
      /// True for the value before the first, false for the one after the last.
      AtStart: bool }

/// Facts about the source that the flat network does not carry, for positioned checks.
type Elaborated =
    {
        Network: FlatNetwork
        /// For each tensor (by id), the range of each leg.
        LegRanges: SourceRange list array
        /// The range of each output leg, in order (an array: an output may list 10^6 legs).
        OutputRanges: SourceRange array
        /// The range of each cut's legs (left side, right side), in cut order.
        CutLegRanges: (SourceRange array * SourceRange array) list
        /// Families that appear in `output` (their missing members are "open legs missing from output").
        OutputFamilies: Set<string>
        /// Whether the network declares `output`.
        HasOutput: bool
        /// Whether some declaration was dropped because of an error; checks that would only repeat its
        /// consequences (dangling bonds, disconnected parts, unused names) are then skipped.
        Incomplete: bool
        /// The tensor members one step past each end of a plain tensor loop (see `LoopEdge`): the member a loop one
        /// short leaves out, which explains the dangling bonds and lone output legs it leaves.
        LoopEdges: LoopEdge list
    }

/// Where a sub-network declaration can be found: the declaration, by name.
type NetworkLookup = string -> NetworkDecl option

/// Abandons the current declaration member. Raised after its diagnostic is reported, or silently when the
/// member depends on something already reported (an erroneous value): one mistake, one message.
exception Abort

/// A name in scope. `Value = None` marks an erroneous value: a `let` whose definition failed (already
/// reported), so that its uses are dropped without another diagnostic. Only a loop variable's value changes: the
/// loop binds it once and sets it for each iteration (no environment is kept past the iteration that made it).
type Binding =
    { mutable Value: Value option
      Range: SourceRange
      Used: bool ref
      IsLoopVar: bool }

/// Names in scope.
type Env = Map<string, Binding>

/// One declared index member: the flat network's index itself, made once. Its id is provisional, its position
/// among the declared members (`Ctx.IndexOrder`, where it is kept; member tables hold the id); `Build` keeps it as it
/// is unless instance bindings merge indices.
type IndexEntry = FlatIndex

/// A leg as written, evaluated to a family member: resolved to an index once all declarations are known.
type LegKey =
    { Family: string
      Subs: int list
      Range: SourceRange
      /// The subscript expressions, for hints (empty for slices).
      Exprs: Expr list }

/// Legs as written in an `output` or a `cut`: a leg naming one member as its key, a slice (`p[0..n-1]`) as its family
/// and the values of each subscript, expanded only as it is resolved (an output may name 10^6 legs: no key each).
type LegGroup =
    | OneLeg of LegKey
    /// The members are the product of the choices, the first subscript outermost.
    | Slice of family: string * choices: int array list * range: SourceRange

/// Where a tensor member comes from: its declaration, and the loop values that made it (for hints that
/// suggest a loop range).
type Origin =
    { Decl: SourceRange
      For: ForClause option
      /// The loop variable's value when the `For` clause has one variable (the only loops a range hint is made
      /// for); empty otherwise.
      Loop: int64 list }

/// What resolving a declared tensor member's legs needs, beside the tensor itself (`Ctx.Tensors`, at the same
/// position). A struct, held in `Ctx.Pending`'s array: no object of its own per member.
[<Struct>]
type PendingTensor =
    {
      /// True when every leg named an index member already declared as the member was made: the tensor's legs are
      /// then the provisional ids of their index members; otherwise they are empty until `Build` resolves `Legs`.
      Resolved: bool
      /// The legs as written, to be resolved once all declarations are known; empty when `Resolved`.
      Legs: LegKey list
      /// The legs' ranges when `Resolved` (one list shared by the declaration's members).
      LegRanges: SourceRange list
      /// The declaration it comes from (one value shared by the declaration's members; its `Loop` is empty).
      Origin: Origin
      /// The loop value that made this member when its loop has one variable (see `Origin.Loop`), the only loop a
      /// hint is made for.
      Loop: int64 voption }

/// `head` followed by `opening`, the decimal digits of `n` ≥ 0 and `closing`, made as one string.
let withNumber (head: string) (opening: char) (n: int) (closing: string) : string = Names.withNumber head opening n closing

/// `b[3]`, `h[0, 2]` or `b` for a family and its subscripts.
let memberName (family: string) (subs: int list) = Names.memberName family subs

/// The type of a value in words.
let typeName =
    function
    | VInt _ -> "int"
    | VFloat _ -> "float"
    | VBool _ -> "bool"

/// A parameter's declared type in words, with its article: "an int", "a float", "a bool".
let typeWord =
    function
    | TInt -> "an int"
    | TFloat -> "a float"
    | TBool -> "a bool"

/// Work shared by a network and all its instances, checked against the limits before it is done.
type Budget(options: Options) =
    let mutable tensors = 0L
    let mutable legs = 0L
    /// Tensors made so far (in every instance, before copying).
    member _.Tensors = tensors
    /// Legs made so far.
    member _.Legs = legs
    /// Counts `t` tensors with `l` legs; false (nothing counted) when that would pass a limit.
    member _.TryAdd(t: int64, l: int64) =
        // The whole elaboration may do a few times the work of the largest network it is allowed to build.
        if tensors + t > 4L * int64 options.MaxTensors || legs + l > 4L * options.MaxLegs then false
        else
            tensors <- tensors + t
            legs <- legs + l
            true

/// Equality of subscript lists without boxing (F#'s structural comparer boxes every element when hashing), for the
/// per-family member tables that every leg of every tensor is looked up in.
type SubscriptComparer() =
    static member val Instance = SubscriptComparer()
    interface IEqualityComparer<int list> with
        member _.Equals(a, b) =
            let rec go (a: int list) (b: int list) =
                match a, b with
                | [], [] -> true
                | x :: xs, y :: ys -> x = y && go xs ys
                | _ -> false
            go a b
        member _.GetHashCode(a) =
            // Mixed, not `h * 31 + x`: that maps the members [x; y] of a 1000 x 1000 grid family onto ~32,000
            // hash values, and every lookup then walked a chain of ~30 keys.
            let mutable h = HashCode()
            for x in a do
                h.Add x
            h.ToHashCode()

/// The members of one family by subscripts, each with an int (an index member's provisional id; 0 for a tensor
/// member, whose table is a set of names). Members with one or two non-negative subscripts (nearly all: `b[i]`,
/// `h[x, y]`) sit in int arrays indexed by the subscripts, as long as the arrays stay within a few cells per member;
/// the rest in a hash table. A million-member family is then looked up several million times by array index, not by
/// hashing lists, and its table holds no references for the collector to trace.
[<AllowNullLiteral>]
type MemberTable() =
    // Dense members with one subscript, by that subscript: the value plus one (0 where there is none).
    let mutable ones: int array = Array.empty
    // Dense members with two, rows by the first subscript.
    let mutable rows: int array array = Array.empty
    // Cells of `ones` and `rows` allocated, kept within `room`.
    let mutable cells = 0L
    let mutable rest: Dictionary<int list, int> = null
    let mutable count = 0
    let mutable arity = -1
    let mutable expected = 0

    /// Dense arrays may take this many cells in all: a few per member, so a sparse family falls back to the hash table.
    let room () = 4L * int64 (max count expected) + 4096L

    /// The dense array to hold `x`, grown by doubling (the first to `first` cells) when that stays within `room`;
    /// null when it would not.
    let fit (cur: 'T array) (x: int) (first: int) : 'T array =
        if x < cur.Length then cur
        else
            let size = max (x + 1) (max 16 (if cur.Length = 0 then first else 2 * cur.Length))
            if cells + int64 (size - cur.Length) > room () then null
            else
                let grown = Array.zeroCreate size
                Array.blit cur 0 grown 0 cur.Length
                cells <- cells + int64 (size - cur.Length)
                grown

    let restFind (subs: int list) (value: byref<int>) =
        not (isNull rest) && rest.TryGetValue(subs, &value)

    /// The members in the table.
    member _.Count = count

    /// The number of subscripts of the first member added; -1 while the table is empty.
    member _.Arity = arity

    /// Makes room for `n` more members (the declaration's expected size), before the first of them is added.
    member _.EnsureCapacity(n: int) = expected <- max expected (count + n)

    /// The member with subscript `x`, if any (a one-subscript lookup without a list).
    member _.TryFind1(x: int, [<Runtime.InteropServices.Out>] value: byref<int>) : bool =
        if x >= 0 && x < ones.Length && ones[x] <> 0 then
            value <- ones[x] - 1
            true
        // The key list is made only when there is a hash table to look in: a miss (every member as it is added)
        // allocates nothing.
        else not (isNull rest) && restFind [ x ] &value

    /// The member with subscripts `x`, `y`, if any (a two-subscript lookup without a list).
    member _.TryFind2(x: int, y: int, [<Runtime.InteropServices.Out>] value: byref<int>) : bool =
        let row = if x >= 0 && x < rows.Length then rows[x] else null
        if y >= 0 && not (isNull row) && y < row.Length && row[y] <> 0 then
            value <- row[y] - 1
            true
        else not (isNull rest) && restFind [ x; y ] &value

    /// The member with subscripts `subs`, if any.
    member t.TryGetValue(subs: int list, [<Runtime.InteropServices.Out>] value: byref<int>) : bool =
        match subs with
        | [ x ] -> t.TryFind1(x, &value)
        | [ x; y ] -> t.TryFind2(x, y, &value)
        | _ -> restFind subs &value

    /// Whether a member with subscripts `subs` is in the table.
    member t.ContainsKey(subs: int list) =
        let mutable v = 0
        t.TryGetValue(subs, &v)

    /// Adds a member that is not yet in the table, with a value >= 0.
    member _.Add(subs: int list, value: int) =
        if arity < 0 then arity <- subs.Length
        count <- count + 1
        let dense =
            match subs with
            | [ x ] when x >= 0 && value < Int32.MaxValue ->
                // The first array holds the members expected (a declaration's loop), as far as `x`'s place needs.
                let grown = fit ones x (expected + 1)
                if isNull grown then false
                else
                    ones <- grown
                    ones[x] <- value + 1
                    true
            | [ x; y ] when x >= 0 && y >= 0 && value < Int32.MaxValue ->
                // The row table itself is small next to the rows, but is counted too.
                let grownRows = fit rows x 16
                if isNull grownRows then false
                else
                    rows <- grownRows
                    // A new row as long as the row before it (a grid's rows are alike).
                    let previous = if x > 0 && not (isNull rows[x - 1]) then rows[x - 1].Length else 16
                    let row = fit (if isNull rows[x] then Array.empty else rows[x]) y previous
                    if isNull row then false
                    else
                        rows[x] <- row
                        row[y] <- value + 1
                        true
            | _ -> false
        if not dense then
            if isNull rest then rest <- Dictionary<int list, int>(SubscriptComparer.Instance)
            rest.Add(subs, value)

    /// The members' subscripts (dense members first, in subscript order; then the rest as added).
    member _.Keys: int list seq =
        seq {
            for x in 0 .. ones.Length - 1 do
                if ones[x] <> 0 then [ x ]
            for x in 0 .. rows.Length - 1 do
                let row = rows[x]
                if not (isNull row) then
                    for y in 0 .. row.Length - 1 do
                        if row[y] <> 0 then [ x; y ]
            if not (isNull rest) then yield! rest.Keys
        }

/// A list of structs grown to the sizes asked for (a declaration reserves its loop's members), whose array is
/// handed on as it is when it is full: the flat network's indices are not copied at the end.
type Grown<'T>() =
    let mutable items: 'T array = Array.empty
    let mutable count = 0
    /// The items added.
    member _.Count = count
    /// The item at `i` (< `Count`).
    member _.Item
        with get (i: int) = items[i]
    /// Makes room for `n` more items: exactly, when that grows the array by at least a quarter.
    member _.Reserve(n: int) =
        if count + n > items.Length then
            let grown = Array.zeroCreate (max (count + n) (items.Length + items.Length / 4))
            Array.blit items 0 grown 0 count
            items <- grown
    /// Adds an item at the end.
    member g.Add(x: 'T) =
        if count = items.Length then g.Reserve(max 4 count)
        items[count] <- x
        count <- count + 1
    /// The items as an array: the list's own when it is full (the list is not used after), else a copy.
    member _.Take() : 'T array = if count = items.Length then items else Array.sub items 0 count
    interface IEnumerable<'T> with
        member _.GetEnumerator() : IEnumerator<'T> = (Seq.take count items).GetEnumerator()
        member _.GetEnumerator() : Collections.IEnumerator = ((Seq.take count items) :> Collections.IEnumerable).GetEnumerator()

/// Values shared by a non-negative int key, each made by `make` on first use and kept in a table grown by doubling:
/// one object per distinct subscript or loop value, however many members and legs use it.
type internal SharedByValue<'T>(make: int -> 'T) =
    let mutable table: 'T array = Array.zeroCreate 1024

    member _.Get(x: int) : 'T =
        if x >= table.Length then
            let grown = Array.zeroCreate (max (x + 1) (2 * table.Length))
            Array.blit table 0 grown 0 table.Length
            table <- grown
        let v = table[x]
        if isNull (box v) then
            let v = make x
            table[x] <- v
            v
        else v

/// The state of one network's elaboration.
type Ctx(options: Options, lookup: NetworkLookup, diagnostics: ResizeArray<Diagnostic>, stack: string list, budget: Budget,
         memo: Dictionary<string, obj>, broken: Set<string>) =
    let indices = Dictionary<string, MemberTable>()
    let indexOrder = Grown<IndexEntry>()
    // The tensor members as declared (provisional ids: their positions), and beside each what resolving it needs.
    let tensors = Grown<FlatTensor>()
    let pending = ResizeArray<PendingTensor>()
    // The tensor members declared, by family and subscripts (a name is its family and subscripts: no strings).
    let tensorNames = Dictionary<string, MemberTable>()
    let mutable tensorCount = 0
    let poisoned = HashSet<string>()
    let emptyFamilies = Dictionary<string, SourceRange>()
    let mutable metReported = false
    let mutable legCount = 0L
    let mutable expected = 1
    let mutable enclosing = 1L
    let mutable exhausted = false
    let mutable output: (LegGroup list * SourceRange) option = None
    let cuts = ResizeArray<Ident * LegGroup list * LegGroup list option>()
    // Instance bindings: (sub-network's index, as a prefixed family member) is the same as (this network's leg).
    let aliases = ResizeArray<LegKey * LegKey * SourceRange>()
    let subOutputs = HashSet<string * int list>()
    // Tensors declared a second time: (family, subscripts, the TN0116 reported about it).
    let duplicateTensors = ResizeArray<string * int list * Diagnostic>()
    // The members one step past the ends of plain tensor loops (see `LoopEdge`).
    let loopEdges = ResizeArray<LoopEdge>()
    // Shared one-subscript lists by value (see `One`), made on first use.
    let ones = SharedByValue<int list>(fun x -> [ x ])
    // Shared two-subscript lists (see `Two`), made on first use: rows by the first subscript, for subscripts below
    // `twoBound` (a grid family's members); a dictionary past that.
    let mutable twoRows: int list array array = Array.zeroCreate 64
    // Cells of `twoRows` allocated, bounded (a sparse pattern of pairs must not allocate rows it does not fill).
    let mutable twoCells = 0L
    let twos = Dictionary<struct (int * int), int list>()
    // Shared loop values by value (see `LoopValue`), made on first use.
    let loopValues = SharedByValue<Value option>(fun x -> Some(VInt(int64 x)))

    member _.Options = options
    member _.Lookup = lookup
    /// The networks being elaborated, innermost first.
    member _.Stack = stack
    member _.Diagnostics = diagnostics
    member _.Budget = budget
    /// Sub-network elaborations already done, by network and arguments (so repeated instances cost nothing).
    member _.Memo = memo
    /// Names mentioned by declarations that failed to parse: what they would have declared is unknown, so
    /// "unknown name" errors about these names are consequences, not causes.
    member _.Broken = broken
    member _.Indices = indices
    member _.IndexOrder = indexOrder
    /// The tensor members declared, by provisional id (`Build` takes the array as it is when it is full).
    member _.Tensors = tensors
    /// Beside each tensor member (same position), what resolving its legs needs.
    member _.Pending = pending
    /// Adds a declared tensor member (its id the next position) and what resolving it needs.
    member _.AddTensor(tensor: FlatTensor, p: PendingTensor) =
        tensors.Add tensor
        pending.Add p
    /// Makes room for `n` more tensor members (a declaration's loop, and the declarations after it), as far as the
    /// expansion limit allows: a network never holds more.
    member _.ReserveTensors(n: int) =
        let n = min n (options.MaxTensors - tensors.Count)
        if n > 0 then
            tensors.Reserve n
            pending.EnsureCapacity(pending.Count + n) |> ignore
    /// Adds a tensor member by family and subscripts; false when it is already declared.
    member _.AddTensorName(family: string, subs: int list) =
        let members =
            match tensorNames.TryGetValue family with
            | true, m -> m
            | _ ->
                let m = MemberTable()
                tensorNames[family] <- m
                m
        // Sized once for the members the declaration is expected to make (see `Expected`).
        if members.Count = 0 && expected > 1 then members.EnsureCapacity expected
        if members.ContainsKey subs then false
        else
            members.Add(subs, 0)
            tensorCount <- tensorCount + 1
            true
    /// True when `family` names declared tensor members (a leg or a cut side naming it mistook a tensor for an index).
    member _.IsTensorFamily(family: string) = tensorNames.ContainsKey family
    /// Index families whose declaration failed for some member: legs naming them are dropped silently.
    member _.Poisoned = poisoned
    /// Index families whose declaration made no member, its loop's ranges being empty (`for i in n-1..0`), with the
    /// declaration: a use of one is explained by the empty range, not reported as an undeclared name.
    member _.EmptyFamilies = emptyFamilies
    /// True once evaluation met an expression the parser has already reported (`EError`): what depended on it was
    /// dropped without a diagnostic of its own, so the network is incomplete.
    member _.MetReported = metReported
    /// Notes that evaluation met an expression the parser has already reported (see `MetReported`).
    member _.MeetReported() = metReported <- true
    member _.Cuts = cuts
    member _.Aliases = aliases
    member _.SubOutputs = subOutputs
    /// Each tensor member declared again after its first declaration, with the TN0116 reported at the second: the
    /// last step withdraws that error where the first declaration was dropped for a leg whose hint changes its loop.
    member _.DuplicateTensors = duplicateTensors
    /// The members one step past the ends of plain tensor loops, for `Check` (see `LoopEdge`).
    member _.LoopEdges = loopEdges

    /// The subscript list `[x]`, one shared list per value: `b[3]`, `A[3]` and every leg naming `b[3]` hold the
    /// same list, so a million-member family makes a list per member once, not once per member and per leg.
    member _.One(x: int) : int list =
        if x < 0 || x > options.MaxTensors then [ x ] else ones.Get x

    /// The subscript list `[x; y]`, one shared list per pair (as `One`, for grids).
    member _.Two(x: int, y: int) : int list =
        let row = if x >= 0 && x < twoRows.Length then twoRows[x] else null
        let fits = x >= 0 && y >= 0 && x < Ctx.TwoBound && y < Ctx.TwoBound
        if fits && ((not (isNull row) && y < row.Length) || twoCells + int64 (max 16 (2 * (y + 1))) <= Ctx.TwoCells) then
            // An array lookup: a 1000 x 1000 grid looks up several million subscript pairs.
            if x >= twoRows.Length then
                let grown = Array.zeroCreate (max (x + 1) (2 * twoRows.Length))
                Array.blit twoRows 0 grown 0 twoRows.Length
                twoRows <- grown
            let mutable row = twoRows[x]
            if isNull row || y >= row.Length then
                // A new row as long as the row before it (a grid's rows are alike, and a row grown by doubling
                // would be copied on the way), while that stays within `TwoCells`.
                let before = if x > 0 then twoRows[x - 1] else null
                let previous = if not (isNull before) && twoCells + int64 before.Length <= Ctx.TwoCells then before.Length else 16
                let grown = Array.zeroCreate (max (y + 1) (if isNull row then previous else 2 * row.Length))
                twoCells <- twoCells + int64 grown.Length
                if not (isNull row) then Array.blit row 0 grown 0 row.Length
                row <- grown
                twoRows[x] <- row
            let l = row[y]
            if obj.ReferenceEquals(l, null) then
                let l = [ x; y ]
                row[y] <- l
                l
            else l
        else
            // A value-tuple key: its hash mixes both values (an int64's would be x xor y, one bucket per diagonal).
            let key = struct (x, y)
            match twos.TryGetValue key with
            | true, l -> l
            | _ ->
                let l = [ x; y ]
                twos[key] <- l
                l

    /// Subscript pairs below this (each) are shared through arrays in `Two`.
    static member TwoBound = 1 <<< 14

    /// The most cells the rows of `Two` may take together (64 MB of references); pairs past it use a dictionary.
    static member TwoCells = 8_000_000L

    /// `Some(VInt v)`, one shared value per loop value: a loop sets its variable for every member.
    member _.LoopValue(v: int64) : Value option =
        if v < 0L || v > int64 options.MaxTensors then Some(VInt v) else loopValues.Get(int v)


    /// How many times the `for` blocks around the declaration being expanded run their bodies together (the
    /// product of their ranges, filters aside; 1 outside them): a loop nested in them counts its members times this
    /// against the limit, as if its binders were theirs (`for x … { for y … }` counts as `for x …, y …`).
    member _.Enclosing
        with get () = enclosing
        and set v = enclosing <- v

    /// How many members the declaration being expanded is expected to make (its loop's size; 1 outside loops),
    /// for sizing the tables its members go into once rather than growing them member by member.
    member _.Expected
        with get () = expected
        and set v = expected <- v

    member _.Output
        with get () = output
        and set v = output <- v

    /// True once an expansion limit was reached or a `require` failed: the rest of the network is not expanded
    /// (one message, no work past the limit, and no errors that only follow from the unmet requirement).
    member _.Exhausted = exhausted

    /// Stops the expansion after a `require` that failed: what follows was written for values that meet it, so
    /// its errors (families left empty, an empty cut) would only repeat the one mistake.
    member _.StopExpanding() = exhausted <- true

    /// Reports that a limit was reached and abandons the current member; nothing more is expanded.
    member c.Exhaust(range, message) : 'a =
        exhausted <- true
        c.Fail(Codes.tooLarge, range, message)

    /// True once any error has been reported in this network.
    member _.HasErrors = Diagnostic.hasErrors diagnostics

    member _.Report(kind, range, message, ?hints: string list) =
        let d = Diagnostic.make kind range message
        diagnostics.Add({ d with Hints = defaultArg hints [] })

    /// Reports and abandons the current declaration member.
    member c.Fail(kind, range, message, ?hints: string list) : 'a =
        c.Report(kind, range, message, defaultArg hints [])
        raise Abort

    /// Counts `n` legs against the limits before they are made; fails at `range` past them.
    member c.CountLegs(range: SourceRange, n: int64) =
        if legCount + n > options.MaxLegs then
            c.Exhaust(range, sprintf "the network's legs number more than %d together, the expansion limit" options.MaxLegs)
        if not (budget.TryAdd(0L, n)) then
            c.Exhaust(range, "expanding this network (with its instances) needs more work than the expansion limits allow")
        legCount <- legCount + n

    /// Counts one more tensor (its name already added) against the limits; fails at `range` past them.
    member c.CountTensor(range: SourceRange) =
        if int64 tensorCount > int64 options.MaxTensors then
            c.Exhaust(range, sprintf "the network has more than %d tensors, the expansion limit" options.MaxTensors)
        if not (budget.TryAdd(1L, 0L)) then
            c.Exhaust(range, "expanding this network (with its instances) needs more work than the expansion limits allow")

    /// Counts `tensors` tensors with `legs` legs copied in from an instance.
    member c.CountCopy(range: SourceRange, tensorsIn: int, legs: int64) =
        if int64 tensorCount + int64 tensorsIn > int64 options.MaxTensors then
            c.Exhaust(range, sprintf "this instance brings the network past %d tensors, the expansion limit" options.MaxTensors)
        if legCount + legs > options.MaxLegs then
            c.Exhaust(range, sprintf "this instance brings the network past %d legs, the expansion limit" options.MaxLegs)
        if not (budget.TryAdd(int64 tensorsIn, legs)) then
            c.Exhaust(range, "expanding this network (with its instances) needs more work than the expansion limits allow")
        legCount <- legCount + legs

/// The keys of a slice's members, in order.
let sliceKeys (ctx: Ctx) (family: string) (choices: int array list) (range: SourceRange) : LegKey list =
    let rec product =
        function
        | [] -> [ [] ]
        | [ (c: int array) ] -> [ for x in c -> ctx.One x ]
        | (c: int array) :: rest ->
            let tails = product rest
            [ for x in c do for tail in tails -> x :: tail ]
    product choices |> List.map (fun subs -> { Family = family; Subs = subs; Range = range; Exprs = [] })
