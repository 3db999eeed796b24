/// The cases of issue 18, one test each: one mistake gives one diagnostic (code and range asserted, never wording),
/// hints come from the fix that works, and no input hangs, crashes or is expanded past the limits.
module TnDsl.Tests.DiagnosticTests

open System
open System.IO
open Xunit
open TnDsl
open TnDsl.Tests.Support

/// Compiles on the compiler's own big stack, as the command line does.
let private compileBig (text: string) overrides =
    Compiler.compileOnBigStack (fun () -> compile text overrides)

/// The one diagnostic of a result, asserted to have `code` at the «marked» range of `text`.
let private single (text: string) overrides (code: string) =
    let clean, (sl, sc), (el, ec) = marked text
    let r = compileBig clean overrides
    let shown = r.Diagnostics |> List.map Diagnostic.headline
    Assert.True(r.Diagnostics.Length = 1, sprintf "expected one %s, got:\n%s" code (String.Join("\n", shown)))
    let d = r.Diagnostics.Head
    Assert.Equal(code, d.Kind.Code)
    Assert.Equal((sl, sc, el, ec + 1), (d.Range.Start.Line, d.Range.Start.Col, d.Range.End.Line, d.Range.End.Col))
    d

[<Fact>]
let ``a wrong size on a family line is one diagnostic for the 64 members it breaks`` () =
    let text =
        "network tree() {\n  index batch: dynamic\n  index s[i, j]: 3 for i in 0..7, j in 0..7\n"
        + "  input x[i, j]: (batch, «s[i, j]») for i in 0..7, j in 0..7 embed onehot(2)\n"
        + "  weight W[i, j]: (s[i, j]) for i in 0..7, j in 0..7\n  output (batch)\n}"
    let d = single text [] "TN0210"
    Assert.Contains("63 more", d.Message)

[<Fact>]
let ``a bad initialiser on a family is reported once, and its legs still count as used`` () =
    let text = "network a(n: int = 4) {\n  index r[i]: 2 for i in 0..n-1\n  hyper index b: 2\n  weight A[i]: (r[i], b) for i in 0..n-1 init «normal(0)»\n  output (r[0..n-1])\n}"
    single text [] "TN0123" |> ignore

let private mpoMps =
    "network mpomps(n: int = 4, chi: int = 3, D: int = 2) {\n"
    + "  index p[i]: 2 for i in 0..n-1\n  index q[i]: 2 for i in 0..n-1\n"
    + "  index a[i]: «chi» for i in 1..n-1\n  index w[i]: D for i in 1..n-1\n"
    + "  weight A[0]: (p[0], a[1])\n  weight A[i]: (a[i], p[i], a[i+1]) for i in 1..n-2\n  weight A[n-1]: (a[n-1], p[n-1])\n"
    + "  weight M[0]: (p[0], q[0], w[1])\n  weight M[i]: (w[i], p[i], q[i], w[i+1]) for i in 1..n-2\n  weight M[n-1]: (w[n-1], p[n-1], q[n-1])\n"
    + "  output (q[0..n-1])\n}"

[<Fact>]
let ``--set chi=0 on an MPO times MPS is one bad dimension, not errors about every use of a`` () =
    single mpoMps [ "chi", "0" ] "TN0107" |> ignore

[<Fact>]
let ``a fractional dimension is one type error, and the index still counts as declared`` () =
    single (mpoMps.Replace("«chi»", "«2.5»")) [] "TN0106" |> ignore

[<Fact>]
let ``one dimension expression that breaks several families is one diagnostic naming them`` () =
    let text = mpoMps.Replace("w[i]: D", "w[i]: chi")
    let d = single text [ "chi", "0" ] "TN0107"
    Assert.Contains("`w`", d.Message)

[<Fact>]
let ``a misspelt keyword is one parse error: the declaration it breaks is not reported again`` () =
    let text =
        "network mps(n: int = 4) {\n  index p[i]: 2 for i in 0..n-1\n  index b[i]: 3 for i in 1..n-1\n  weight A[0]: (p[0], b[1])\n"
        + "  «wieght» A[i]: (b[i], p[i], b[i+1]) for i in 1..n-2\n  weight A[n-1]: (b[n-1], p[n-1])\n  output (p[0..n-1])\n}"
    single text [] "TN0001" |> ignore

[<Fact>]
let ``a let broken by a parse error does not make its uses unknown names`` () =
    let text = "network a() {\n  let half = 4 /«)»\n  index i: half\n  weight A: (i)\n  output (i)\n}"
    single text [] "TN0001" |> ignore

[<Fact>]
let ``a leg past the family's end inside a loop suggests the loop range that fits`` () =
    let text = "network a(n: int = 4) {\n  index b[i]: 2 for i in 1..n-1\n  weight A[i]: (b[i], «b[i+1]») for i in 1..n-1\n}"
    let clean, _, _ = marked text
    let r = compileBig clean []
    let d = r.Diagnostics |> List.filter (fun d -> d.Kind.Code = "TN0110") |> List.exactlyOne
    Assert.Contains("for i in 1..n - 2", String.concat " " d.Hints)
    Assert.DoesNotContain("`b[i]`", String.concat " " d.Hints)

[<Fact>]
let ``an unknown one-letter parameter suggests nothing unrelated`` () =
    let r = compileBig "network a(d: int = 2) {\n  index i: d\n  weight A: (i)\n  output (i)\n}" [ "N", "5" ]
    let d = r.Diagnostics |> List.exactlyOne
    Assert.Equal("TN0103", d.Kind.Code)
    Assert.Equal("command line", d.Range.File)
    Assert.DoesNotContain("did you mean", String.concat " " d.Hints)
    // Case alone is a plausible slip.
    let r = compileBig "network a(n: int = 2) {\n  index i: n\n  weight A: (i)\n  output (i)\n}" [ "N", "5" ]
    Assert.Contains("`n`", String.concat " " r.Diagnostics.Head.Hints)

[<Fact>]
let ``an output leg on no tensor is a check error at the output leg, not a run-time failure`` () =
    let text =
        "network peps(L: int = 3) {\n  index p[x, y]: 2 for x in 0..L-1, y in 0..L-1\n  index h[x, y]: 2 for x in 1..L-1, y in 0..L-1\n"
        + "  index v[x, y]: 2 for x in 0..L-1, y in 1..L-1\n"
        + "  weight T[x, y]: (h[x, y] if x > 0, h[x+1, y] if x < L-1, v[x, y] if y > 0, v[x, y+1] if y < L-1) for x in 0..L-1, y in 0..L-1\n"
        + "  output («p[0..L-1, 0..L-1]»)\n}"
    let d = single text [] "TN0217"
    Assert.Contains("8 more", d.Message)

/// Compiles on a thread with a small stack (1 MiB): input whose length became recursion depth would overflow it,
/// so these tests show that depth does not follow input length at a tenth of the size the issue names, quickly.
let private compileOnSmallStack (text: string) (options: Compiler.CompileOptions) =
    let mutable result = None
    let t = Threading.Thread((fun () -> result <- Some(Compiler.compileText Compiler.readDisk "t.tn" text options)), 1024 * 1024)
    t.Start()
    t.Join()
    result.Value

[<Fact>]
let ``a hundred thousand nested unary operators evaluate without recursion`` () =
    let minus = String.replicate 100_000 "- "
    let nots = String.replicate 100_000 "not "
    let text = sprintf "network a() {\n  require %strue, \"never\"\n  index i: %s2\n  weight A: (i)\n  output (i)\n}" nots minus
    let r = compileOnSmallStack text Compiler.defaultOptions
    Assert.Empty(codes r)
    Assert.Equal(2L, Dim.size r.Network.Value.Indices[0].Dim)

[<Fact>]
let ``a dimension written as a sum of a hundred thousand terms evaluates`` () =
    let text = sprintf "network a() {\n  index i: 2%s\n  weight A: (i)\n  output (i)\n}" (String.replicate 100_000 " + 0")
    let r = compileOnSmallStack text Compiler.defaultOptions
    Assert.Empty(codes r)
    Assert.Equal(2L, Dim.size r.Network.Value.Indices[0].Dim)

[<Fact>]
let ``a later index family whose range is a sum of a hundred thousand terms evaluates`` () =
    // The first loop of indices sizes the index table for the declarations after it: that look-ahead must not
    // recurse through the later range's expression either.
    let text =
        sprintf "network a() {\n  index p[i]: 2 for i in 0..3\n  index b[i]: 2 for i in 0..0%s\n  weight A[i]: (p[i]) for i in 0..3\n  output (p[0..3])\n}"
            (String.replicate 100_000 " + 0")
    let r = compileOnSmallStack text Compiler.defaultOptions
    Assert.Empty(r.Diagnostics |> List.filter Diagnostic.isError)
    Assert.Equal(5, r.Network.Value.Indices.Length)

/// Limits a thousand times smaller than the defaults: the same refusals are reached after a thousandth of the work.
let private smallLimits = { Compiler.defaultOptions with Limits = { Compiler.defaultOptions.Limits with MaxTensors = 1000; MaxLegs = 10_000L } }

/// The one diagnostic of a compilation under `options`, asserted to have `code` at the «marked» range's start.
let private singleWith (text: string) (options: Compiler.CompileOptions) (code: string) =
    let clean, (sl, sc), _ = marked text
    let r = compileOnSmallStack clean options
    let d = r.Diagnostics |> List.exactlyOne
    Assert.Equal(code, d.Kind.Code)
    Assert.Equal((sl, sc), (d.Range.Start.Line, d.Range.Start.Col))

[<Fact>]
let ``thirty levels of doubling instances stop at the expansion limit with one diagnostic`` () =
    // Unchecked, level 30 is 2^30 tensors; under a limit of 1000 tensors the expansion stops at level 10.
    let levels =
        [ for k in 1..30 -> sprintf "network n%d() {\n  instance a: n%d()\n  instance b: n%d()\n}" k (k - 1) (k - 1) ]
    let text = "network n0() { index i: 2 weight A: (i) weight B: (i) }\n" + String.Join("\n", levels)
    let clean = text.Replace("network n30() {\n  instance a: n29()", "network n30() {\n  «instance a: n29()»")
    singleWith clean smallLimits "TN0112"

[<Fact>]
let ``a family of as many tensors as the limit, each with a slice as long as the limit, is refused by counting legs`` () =
    // Unchecked, this is limit^2 = 10^6 legs under a limit of 10^4: refused after ten tensors' legs.
    let text = "network a() {\n  index p[i]: 2 for i in 0..999\n  «weight A[k]: (p[0..999]) for k in 0..999»\n}"
    singleWith text smallLimits "TN0112"

[<Fact>]
let ``a slice longer than the tensor limit is refused before its members are listed`` () =
    let text = "network a() {\n  index p[i]: 2 for i in 0..9\n  weight A: (p[0..9], p[«0..999999999]»)\n}"
    singleWith text smallLimits "TN0112"

[<Fact>]
let ``thousands of slices each within the limit are refused by counting legs before their values are made`` () =
    // Each slice names 10^5 indices (the tensor limit), 4000 of them 4 x 10^8 legs against a limit of 10^6: refused
    // at the eleventh. Making every slice's values before counting them allocated about 4.8 GB (and the same at
    // the default limits took over 8 GB and minutes); counting leg by leg stops after eleven slices.
    let options = { Compiler.defaultOptions with Limits = { Compiler.defaultOptions.Limits with MaxTensors = 100_000; MaxLegs = 1_000_000L } }
    let slices = String.Join(", ", Array.create 4000 "p[0..99999]")
    let text = sprintf "network a() {\n  index p[i]: 2 for i in 0..9\n  weight A: (p[0])\n  «output (%s)»\n}" slices
    let before = GC.GetTotalAllocatedBytes true
    singleWith text options "TN0112"
    let allocated = GC.GetTotalAllocatedBytes true - before
    // Process-wide (other tests may run beside this one): a generous bound, a fifth of what the values would take.
    Assert.True(allocated < 1_000_000_000L, sprintf "%d bytes allocated" allocated)

[<Fact>]
let ``a loop whose size is known and past the limit is refused before any member is made`` () =
    // 100 x 100 members under a limit of 1000, each naming an index that does not exist: before, the first thousand
    // members were made (with their legs' misses) until the tensor limit refused the declaration; now the loop is
    // refused at its `for` clause first (at 10^6 members: 2.7 s and 416 MB before, 0.4 s and 48 MB now).
    let text = "network a() {\n  index i: 2\n  weight A: (i)\n  weight T[x, y]: (i, q[x, y]) «for x in 0..99, y in 0..99»\n}"
    singleWith text smallLimits "TN0112"

[<Fact>]
let ``a grid loop of exactly the tensor limit is accepted, and one row more is refused`` () =
    // The loop limit counts members, not outer iterations too: an L x L grid at the limit is valid.
    let options = { Compiler.defaultOptions with Limits = { Compiler.defaultOptions.Limits with MaxTensors = 100; MaxLegs = 10_000L } }
    let grid rows =
        sprintf "network g() {\n  index p[x, y]: 2 for x in 0..%d, y in 0..9\n  weight T[x, y]: (p[x, y]) for x in 0..%d, y in 0..9\n  output (p[0..%d, 0..9])\n}" (rows - 1) (rows - 1) (rows - 1)
    let ok = Compiler.compileText Compiler.readDisk "t.tn" (grid 10) options
    // The tensors share no index, so the only diagnostic is that warning.
    Assert.Equal<string list>([ "TN0213" ], codes ok)
    Assert.Equal(100, ok.Network.Value.Tensors.Length)
    let over = Compiler.compileText Compiler.readDisk "t.tn" (grid 11) options
    Assert.Equal<string list>([ "TN0112" ], codes over |> List.distinct)

[<Fact>]
let ``the expansion limit counts legs as well as tensors`` () =
    let text = "network a() {\n  index p[i]: 2 for i in 0..99\n  «weight A[k]: (p[0..99]) for k in 0..99»\n}"
    let options = { Compiler.defaultOptions with Limits = { Compiler.defaultOptions.Limits with MaxLegs = 5000L } }
    let clean, (sl, sc), _ = marked text
    let r = Compiler.compileText Compiler.readDisk "t.tn" clean options
    let d = r.Diagnostics |> List.exactlyOne
    Assert.Equal("TN0112", d.Kind.Code)
    Assert.Equal((sl, sc), (d.Range.Start.Line, d.Range.Start.Col))

/// A fresh folder under the temporary directory, removed when disposed (`use temp = new TempDir()`).
type private TempDir() =
    let path = Directory.CreateTempSubdirectory("tn-i18-").FullName
    member _.Path = path
    interface IDisposable with
        member _.Dispose() = if Directory.Exists path then Directory.Delete(path, true)

[<Fact>]
let ``a file that uses itself is an error naming the cycle`` () =
    use temp = new TempDir()
    let dir = temp.Path
    let path = Path.Combine(dir, "self.tn")
    File.WriteAllText(path, "use \"self.tn\"\nnetwork a() { index i: 2 weight A: (i) output (i) }")
    let r = Compiler.compileFile path Compiler.defaultOptions
    let d = r.Diagnostics |> List.exactlyOne
    Assert.Equal("TN0010", d.Kind.Code)
    Assert.Equal((1, 1, 1, 14), (d.Range.Start.Line, d.Range.Start.Col, d.Range.End.Line, d.Range.End.Col))
    Assert.Contains("self.tn -> self.tn", d.Message)

[<Fact>]
let ``two files that use each other are an error naming the cycle`` () =
    use temp = new TempDir()
    let dir = temp.Path
    File.WriteAllText(Path.Combine(dir, "a.tn"), "use \"b.tn\"\nnetwork a() { index i: 2 weight A: (i) output (i) }")
    File.WriteAllText(Path.Combine(dir, "b.tn"), "use \"a.tn\"\nnetwork b() { index j: 2 weight B: (j) output (j) }")
    let r = Compiler.compileFile (Path.Combine(dir, "a.tn")) Compiler.defaultOptions
    let d = r.Diagnostics |> List.exactlyOne
    Assert.Equal("TN0010", d.Kind.Code)
    Assert.EndsWith("b.tn", d.Range.File)
    Assert.Equal((1, 1), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.Contains("a.tn -> b.tn -> a.tn", d.Message)

[<Fact>]
let ``a used file larger than the limit or not a regular file is refused at once`` () =
    use temp = new TempDir()
    let dir = temp.Path
    let big = Path.Combine(dir, "big.tn")
    File.WriteAllText(big, String('/', 100))
    match Compiler.readSource 64L big with
    | Result.Error (kind, _) -> Assert.Equal("TN0011", kind.Code)
    | Ok _ -> failwith "a file over the limit was read"
    match Compiler.readSource Compiler.maxFileBytes "/dev/zero" with
    | Result.Error (kind, _) -> Assert.Equal("TN0011", kind.Code)
    | Ok _ -> failwith "/dev/zero was read"
    let r = Compiler.compileFile "/dev/zero" Compiler.defaultOptions
    Assert.Equal<string list>([ "TN0011" ], codes r)

[<Fact>]
let ``a FIFO with no writer is refused at once, as a file and through use`` () =
    if not (OperatingSystem.IsWindows()) then
        use temp = new TempDir()
        let dir = temp.Path
        let fifo = Path.Combine(dir, "pipe.tn")
        use mk = Diagnostics.Process.Start("mkfifo", fifo)
        mk.WaitForExit()
        Assert.Equal(0, mk.ExitCode)
        File.WriteAllText(Path.Combine(dir, "main.tn"), "use \"pipe.tn\"\nnetwork a() { index i: 2 weight A: (i) output (i) }")
        // Opening a FIFO blocks until a writer comes: the reads run on a task, and a writer is opened afterwards
        // only to release a read that did block (so a failure ends the test instead of hanging it).
        let reads =
            Threading.Tasks.Task.Run(fun () ->
                Compiler.readSource Compiler.maxFileBytes fifo,
                Compiler.compileFile fifo Compiler.defaultOptions,
                Compiler.compileFile (Path.Combine(dir, "main.tn")) Compiler.defaultOptions)
        let finished = reads.Wait(TimeSpan.FromSeconds 30.0)
        if not finished then
            use _writer = new FileStream(fifo, FileMode.Open, FileAccess.Write)
            reads.Wait()
        Assert.True(finished, "reading a FIFO with no writer blocked")
        let direct, asFile, used = reads.Result
        match direct with
        | Result.Error (kind, _) -> Assert.Equal("TN0011", kind.Code)
        | Ok _ -> failwith "the FIFO was read"
        Assert.Equal<string list>([ "TN0011" ], codes asFile)
        let d = used.Diagnostics |> List.exactlyOne
        Assert.Equal("TN0011", d.Kind.Code)
        Assert.Equal((1, 1), (d.Range.Start.Line, d.Range.Start.Col))

[<Fact>]
let ``names may use any Unicode letter, astral planes included`` () =
    let text = "network 𝒜() {\n  index 𝒷[i]: 2 for i in 0..1\n  index λ: 2\n  weight 𝒯[i]: (𝒷[i], λ) for i in 0..1\n  output (𝒷[0..1])\n}"
    let r = compileBig text []
    Assert.Empty(codes r)
    Assert.Equal("𝒜", r.Network.Value.Name)
    Assert.Equal<string list>([ "𝒯[0]"; "𝒯[1]" ], r.Network.Value.Tensors |> Array.map (fun t -> t.Name) |> List.ofArray)

[<Fact>]
let ``a bad nominal size of dynamic points at the size`` () =
    single "network a() {\n  index batch: dynamic(«0»)\n  index i: 2\n  input x: (batch, i)\n  weight W: (i)\n  output (batch)\n}" [] "TN0107" |> ignore

[<Fact>]
let ``errors print before warnings, each group in source order`` () =
    let r = compileBig "network a(unused: int = 1) {\n  index i: 2\n  index j: 0\n  weight A: (i)\n  output (i)\n}" []
    let levels = r.Diagnostics |> List.map (fun d -> d.Kind.Level)
    Assert.Equal<Level list>(levels |> List.sortBy (function Level.Error -> 0 | Warning -> 1 | Info -> 2), levels)

[<Theory>]
// A size: before, the literal read as 0 and "the dimension of `i` evaluates to 0" followed.
[<InlineData("network a() {\n  index i: «99999999999999999999»\n  weight A: (i)\n  weight B: (i)\n}")>]
// A product of two: each literal is its own mistake, and nothing follows from either.
[<InlineData("network a() {\n  index i: «99999999999999999999» * 2\n  weight A: (i)\n  weight B: (i)\n}")>]
// A loop's bound: before, the loop ran once (0..0); without members, "declares no tensors" and "`i` is listed in
// `output`, but no tensor has it" would follow.
[<InlineData("network a() {\n  index i: 2\n  weight A[k]: (i) for k in 0..«99999999999999999999»\n  output (i)\n}")>]
// A parameter's default: what uses the parameter is dropped silently.
[<InlineData("network a(n: int = «99999999999999999999») {\n  index i: n\n  weight A: (i)\n  weight B: (i)\n}")>]
let ``an integer literal past 64 bits is one error, and nothing that depends on it is reported`` (text: string) =
    single text [] "TN0003" |> ignore

[<Fact>]
let ``a diagnostic on a 100 kB line shows a window around its range, the caret under it`` () =
    // A generated file: one long line, a mistake near its middle.
    let filler = String.replicate 12000 " + 0"
    let text = "network big() { index a: 2" + filler + " weight T: (a, «nope») weight U: (a) require 1" + filler + " == 1, \"fine\" output () }\n"
    let d = single text [] "TN0109"
    let clean, _, _ = marked text
    let shown = (Diagnostic.render (fun _ -> Some(SourceText("big.tn", clean))) d).Split('\n')
    let line, caret = shown[1], shown[2]
    Assert.True(line.Length < Diagnostic.shownColumns + 20, sprintf "a line of %d characters" line.Length)
    Assert.Contains("…", line)
    // The caret sits under `nope`, in the window as shown.
    Assert.Equal("nope", line.Substring(caret.IndexOf '^', 4))
    Assert.Equal("^^^^", caret.Trim().TrimStart('|').Trim())

// Loops written as `for` clauses of their own, as a comprehension nests them, are one error at the second `for`
// whose hint writes the one clause; the declaration is kept with both loops (and both filters), so nothing else is
// reported: not the next line's declaration (which the second `for` used to swallow as a block), not the members.
[<Theory>]
[<InlineData("network g(L: int = 3) {\n  index h[x, y]: 2 for x in 0..L-2 «for y in 0..L-1»\n  index k: 2\n  weight A[x, y]: (h[x, y]) for x in 0..L-2, y in 0..L-1\n  weight B: (k)\n  weight C: (k, h[0..L-2, 0..L-1])\n}", "`for x in 0..L-2, y in 0..L-1`")>]
[<InlineData("network g(L: int = 3) {\n  index h[x, y]: 2 for x in 0..L-2, y in 0..L-1\n  weight A[x, y]: (h[x, y]) for x in 0..L-2 «for y in 0..L-1» init normal(0, 1)\n  weight C: (h[0..L-2, 0..L-1])\n}", "`for x in 0..L-2, y in 0..L-1`")>]
[<InlineData("network g() {\n  index h[x, y]: 2 for x in 0..1, y in 0..1\n  weight A[x, y]: (h[x, y]) for x in 0..2 if x < 2 «for y in 0..2 if y < 2»\n  weight C: (h[0..1, 0..1])\n}", "`for x in 0..2, y in 0..2`")>]
let ``loops written as two for clauses are one error whose hint writes them as one`` (text: string) (clause: string) =
    let d = single text [] "TN0005"
    Assert.Contains(clause, d.Hints |> List.exactlyOne)

// A tensor named where an index belongs (a leg, `output`, a cut side) is said to be a tensor, not to be declared as
// an index, once for its whole family.
[<Theory>]
[<InlineData("network r(n: int = 6) {\n  index b[i]: 2 for i in 0..n-1\n  weight T[i]: (b[i], b[(i+1) % n]) for i in 0..n-1\n  output ()\n  cut half: «T[0..2]» | rest\n}")>]
[<InlineData("network r(n: int = 6) {\n  index b[i]: 2 for i in 0..n-1\n  weight T[i]: (b[i], b[(i+1) % n]) for i in 0..n-1\n  weight U[i]: («T[i]») for i in 0..n-1\n}")>]
[<InlineData("network r() {\n  index b: 2\n  weight T: (b)\n  weight U: (b)\n  output («T»)\n}")>]
let ``a tensor named where an index belongs is one error that says it is a tensor`` (text: string) =
    let d = single text [] "TN0109"
    Assert.Contains("`T` is a tensor, not an index", d.Message)
    Assert.DoesNotContain(d.Hints, fun h -> h.Contains "declare it with")

/// A network choosing leg `i` or `j` of B by `c` (and `d`), the choice written as `LEG`; its output is the leg B
/// does not take, so the choice written as two legs checks for every value of `c` and `d`.
let private choosing (leg: string) =
    "network m(c: bool = true, d: bool = true) {\n  index i: 2\n  index j: 2\n  index h: 2\n  weight A: (i, j)\n  weight H: (h)\n"
    + "  weight B: (" + leg + ", h)\n  output (i if not (c and d), j if c and d)\n}"

[<Theory>]
[<InlineData("«(if c and d then i else j)»")>]
[<InlineData("«((if c and d then i else j))»")>]
[<InlineData("«if c and d then i else j»")>]
[<InlineData("«i if c and d else j»")>]
let ``a leg written as a conditional expression is one error at it, whose hint is legs that check`` (leg: string) =
    let d = single (choosing leg) [] "TN0012"
    // The hint's last code span is the choice in the language's form: put in place of the mistake, the file checks
    // whichever leg the condition picks.
    let fix = Text.RegularExpressions.Regex.Matches(List.exactlyOne d.Hints, "`([^`]*)`") |> Seq.last
    for c, dd in [ "true", "true"; "true", "false"; "false", "true" ] do
        let r = compileBig (choosing fix.Groups[1].Value) [ "c", c; "d", dd ]
        Assert.True(r.Diagnostics.IsEmpty, sprintf "%s with c=%s, d=%s:\n%s" fix.Value c dd (String.Join("\n", r.Diagnostics |> List.map Diagnostic.headline)))

/// A 3x3 grid whose site tensors' legs are written `LEGS` (bond h[x, y] between (x, y) and (x+1, y), v[x, y]
/// between (x, y) and (x, y+1)).
let private grid (legs: string) =
    "network g(L: int = 3) {\n  index h[x, y]: 2 for x in 0..L-2, y in 0..L-1\n  index v[x, y]: 2 for x in 0..L-1, y in 0..L-2\n"
    + "  weight A[x, y]: (" + legs + ") for x in 0..L-1, y in 0..L-1\n  output ()\n}"

// A leg that exists for some members of a loop over two variables only (a grid's border): one error, which names
// the family's box, and whose hint, put in place of the leg, makes the file check.
[<Theory>]
[<InlineData("«h[x-1, y]», h[x, y] if x < L-1, v[x, y-1] if y > 0, v[x, y] if y < L-1", "h[0..1, 0..2]")>]
[<InlineData("h[x-1, y] if x > 0, h[x, y] if x < L-1, v[x, y-1] if y > 0, «v[x, y]»", "v[0..2, 0..1]")>]
let ``a grid leg missing at the border is one error whose hint is the leg kept where it exists`` (legs: string) (box: string) =
    let d = single (grid legs) [] "TN0110"
    Assert.Contains(box, d.Message)
    let fix = Text.RegularExpressions.Regex.Matches(List.exactlyOne d.Hints, "`([^`]*)`") |> Seq.last
    let fixedLegs = Text.RegularExpressions.Regex.Replace(legs, "«[^»]*»", fix.Groups[1].Value)
    let r = compileBig (grid fixedLegs) []
    Assert.True(r.Diagnostics.IsEmpty, sprintf "%s:\n%s" fixedLegs (String.Join("\n", r.Diagnostics |> List.map Diagnostic.headline)))

[<Fact>]
let ``a conditional leg without else is one error whose hint is the leg with its condition`` () =
    let d = single "network m(c: bool = true) {\n  index i: 2\n  weight A: (i)\n  weight B: («if not c then i»)\n  output ()\n}" [] "TN0012"
    Assert.EndsWith("`i if not c`", List.exactlyOne d.Hints)

[<Fact>]
let ``a hyperindex family held by one tensor each and not in output is one warning, at its declaration`` () =
    let text = "network m(n: int = 4) {\n  «hyper index k[x]: 3 for x in 0..n-1»\n  hyper index s: 2\n  weight A[x]: (k[x], s) for x in 0..n-1\n  output ()\n}"
    let d = single text [] "TN0220"
    Assert.Equal(Level.Warning, d.Kind.Level)
    Assert.Contains("3 more", d.Message)

[<Fact>]
let ``a hyperindex on one tensor is no warning when it is an output or joined to a constant of ones`` () =
    for text in
        [ "network m {\n  hyper index k: 3\n  weight A: (k)\n  output (k)\n}"
          "network m {\n  hyper index k: 3\n  weight A: (k)\n  const ones: (k) = 1\n  output ()\n}"
          "network m {\n  hyper index k: 3\n  weight A: (k)\n}" ] do
        Assert.Empty((compileBig text []).Diagnostics)
