/// Helpers shared by the front-end tests: compiling text in memory and locating expected ranges.
module TnDsl.Tests.Support

open System
open System.IO
open TnDsl
open Xunit

/// The repository root (the folder holding TnDsl.sln), found from the test binary's folder.
let repoRoot =
    let rec up (d: DirectoryInfo) =
        if isNull d then failwith "TnDsl.sln not found above the test folder"
        elif File.Exists(Path.Combine(d.FullName, "TnDsl.sln")) then d.FullName
        else up d.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// The examples folder.
let examplesDir = Path.Combine(repoRoot, "examples")

/// Compiles in-memory text (files it uses are read from disk relative to `file`).
let compile (text: string) (overrides: (string * string) list) =
    Compiler.compileWith (Compiler.readSource Compiler.maxFileBytes) "test.tn" text { Compiler.defaultOptions with Overrides = overrides }

/// In-memory text loaded as a file of that text would be (`Frontend.Load`): the flat network the drawing and
/// backend tests take.
let loadText (text: string) = TnDsl.Api.Frontend.LoadText("net.tn", text, null, null)

/// A connected random graph of `n` tensors drawn from `r`: a random tree, then `extra ()` draws of a bond between two
/// tensors (a tensor with itself or a bond drawn again is dropped); the bonds as pairs, smaller tensor first.
let randomEdges (r: Random) (n: int) (extra: unit -> int) =
    let edges = Collections.Generic.HashSet<int * int>()
    for v in 1 .. n - 1 do
        edges.Add((r.Next v, v)) |> ignore
    for _ in 1 .. extra () do
        let a, b = r.Next n, r.Next n
        if a <> b then edges.Add((min a b, max a b)) |> ignore
    Seq.toArray edges

/// The text of network `name` of `n` tensors: tensor v, named `tensor v`, holds bond `e{k}` (of size `bond`) for each
/// pair k of `edges` that has v, and an open leg `o{v}` of 2; every open leg is in the output.
let graphText (name: string) (n: int) (edges: (int * int)[]) (bond: int) (tensor: int -> string) =
    let lines =
        [ yield sprintf "network %s {" name
          for k in 0 .. edges.Length - 1 do
              yield sprintf "  index e%d: %d" k bond
          for v in 0 .. n - 1 do
              yield sprintf "  index o%d: 2" v
          for v in 0 .. n - 1 do
              let legs = [ for k, (a, b) in Array.indexed edges do if a = v || b = v then yield sprintf "e%d" k ] @ [ sprintf "o%d" v ]
              yield sprintf "  weight %s: (%s) init normal(0, 0.3)" (tensor v) (String.Join(", ", legs))
          yield sprintf "  output (%s)" (String.Join(", ", [ for v in 0 .. n - 1 -> sprintf "o%d" v ]))
          yield "}" ]
    String.Join("\n", lines) + "\n"

/// Text with one range marked «like this»: the text without the marks, and the marked range's start and end
/// as (line, col) pairs, 1-based.
let marked (text: string) =
    let s = text.IndexOf '«'
    let e = text.IndexOf '»'
    if s < 0 || e < s then failwith "the test text needs one «marked» range"
    let clean = text.Remove(e, 1).Remove(s, 1)
    let lineCol (offset: int) =
        let before = clean.Substring(0, offset)
        let line = before.Split('\n').Length
        let col = offset - (before.LastIndexOf '\n' + 1) + 1
        line, col
    clean, lineCol s, lineCol (e - 2)

/// The codes of the diagnostics, in order.
let codes (r: Compiler.CompileResult) = r.Diagnostics |> List.map (fun d -> d.Kind.Code)

/// The one error a «marked» text compiles to, asserted to have `code` and to start at the mark; returned for the
/// test's other checks.
let theOneError (code: string) (text: string) =
    let clean, start, _ = marked text
    let d = Assert.Single((compile clean []).Diagnostics |> List.filter Diagnostic.isError)
    Assert.Equal(code, d.Kind.Code)
    Assert.Equal(start, (d.Range.Start.Line, d.Range.Start.Col))
    d

/// The benchmarks' closed lattice (bench/TnDsl.Bench/HyperBench.fs `lattice`): a rows × cols grid of tensors with
/// bonds of size `bond` and a leg of size 1 per site, none open. Names carry a separator (`v10_1`, not `v101`), so
/// they stay distinct from 11 rows on.
let benchLattice rows cols (bond: int64) =
    let tensors =
        [| for r in 0 .. rows - 1 do
               for c in 0 .. cols - 1 do
                   [| sprintf "s%d_%d" r c
                      if r > 0 then sprintf "v%d_%d" (r - 1) c
                      if c > 0 then sprintf "h%d_%d" r (c - 1)
                      if c < cols - 1 then sprintf "h%d_%d" r c
                      if r < rows - 1 then sprintf "v%d_%d" r c |] |]
    let names = tensors |> Array.concat |> Array.distinct
    let sizes = names |> Array.map (fun n -> n, (if n.StartsWith "s" then 1L else bond)) |> Map.ofArray
    match Problem.index Range.none (Problem.create None tensors sizes [||]) with
    | Ok p -> p
    | Result.Error ds -> failwithf "%A" ds

/// A random binary tree over `leaves` leaves: two live nodes, any two, joined at each step (the trees the slicing
/// bounds are checked on).
let randomTree (rng: Random) (leaves: int) : ContractionTree =
    let live = ResizeArray [ 0 .. leaves - 1 ]
    let steps = ResizeArray<int array>()
    while live.Count > 1 do
        let a = live[rng.Next live.Count]
        live.Remove a |> ignore
        let b = live[rng.Next live.Count]
        live.Remove b |> ignore
        steps.Add [| a; b |]
        live.Add(leaves + steps.Count - 1)
    { Leaves = leaves; Steps = steps.ToArray() }
