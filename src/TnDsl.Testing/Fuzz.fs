namespace TnDsl.Testing

open System
open System.Diagnostics
open System.Text
open System.Threading
open TnDsl

/// What one fuzz input did to the front end.
type FuzzOutcome =
    {
        /// The exception that escaped the front end, if any (a defect: bad input must become diagnostics).
        Escaped: exn option
        /// Whether the front end was still running at the time limit.
        Hung: bool
        /// Wall-clock time of the compilation.
        Millis: float
        /// Bytes allocated while compiling (the whole process, so run inputs one at a time).
        Allocated: int64
        /// Diagnostics whose range does not lie inside the input text.
        BadRanges: Diagnostic list
    }

/// The figures of a fuzz run.
type FuzzSummary =
    {
        Inputs: int
        Escapes: int
        Hangs: int
        RangeFaults: int
        /// The slowest input's time and the input itself.
        WorstMillis: float
        WorstInput: string
        /// The most bytes one input allocated.
        WorstAllocated: int64
        /// The process's peak working set at the end of the run.
        PeakWorkingSet: int64
        /// The first failing inputs (escapes, hangs, range faults) with what went wrong, for replay.
        Failures: (string * string) list
    }

/// Fuzzing the front end: inputs made by mutating `.tn` texts (deleting, repeating and swapping pieces, inserting
/// tokens, nesting) and by a generator that follows the grammar, each compiled with a time limit; a run counts
/// escaped exceptions, hangs and diagnostics whose range falls outside the input. Seeded: a seed and a count
/// give the same inputs every time.
module Fuzz =
    let private tokens =
        [| "network"; "index"; "hyper"; "weight"; "input"; "const"; "output"; "cut"; "for"; "in"; "if"; "then"; "else"
           "let"; "require"; "instance"; "use"; "init"; "embed"; "shared"; "dynamic"; "rest"; "by"; "not"; "and"; "or"
           "true"; "false"; "("; ")"; "["; "]"; "{"; "}"; ","; ":"; ";"; ".."; "."; "="; "=="; "!="; "<"; "<="; "+"; "-"
           "*"; "/"; "%"; "^"; "|"; "0"; "1"; "2"; "-1"; "7"; "1000000"; "99999999999999999999"; "1e308"; "0.5"; "2^62"
           "2^63"; "10^6"; "0..999999"; "n-1"; "i+1"; "𝒜"; "λ"; "é"; "\""; "\"x.tn\""; "/*"; "*/"; "//"; "\n"; "\t"; "_"
           "dynamic(0)"; "for i in 0..n-1"; "for i in 0..10^12"; "normal(0)"; "normal(0, 1)"; "onehot(2)"; "copy"
           "identity"; "auto"; "instance m: a()"; "p[0..n-1]"; "b[i, j]"; "min("; "log2(0)"; "sqrt(-1)"; "1/0" |]

    /// One to four random edits of a text: delete, repeat or move a piece, insert a token, change a character,
    /// truncate, or nest a piece in brackets.
    let mutate (rng: Random) (text: string) =
        let mutable s = text
        for _ in 1 .. rng.Next(1, 5) do
            let n = s.Length
            let at () = if n = 0 then 0 else rng.Next(n + 1)
            let piece () =
                let a = at ()
                let len = min (n - a) (rng.Next(1, 40))
                a, max 0 len
            s <-
                match rng.Next 8 with
                | 0 when n > 0 -> let a, len = piece () in s.Remove(a, len)
                | 1 when n > 0 -> let a, len = piece () in s.Insert(at (), s.Substring(a, len))
                | 2 -> s.Insert(at (), " " + tokens[rng.Next tokens.Length] + " ")
                | 3 when n > 0 ->
                    let a = rng.Next n
                    let swaps = [| "("; ")"; "["; "]"; "{"; "}"; ","; ":"; "0"; "-"; "+"; "x"; "\n"; "\""; "𝒜" |]
                    s.Substring(0, a) + swaps[rng.Next swaps.Length] + s.Substring(a + 1)
                | 4 when n > 0 -> s.Substring(0, at ())
                | 5 when n > 0 ->
                    let a, len = piece ()
                    let depth = rng.Next(1, 300)
                    s.Substring(0, a) + String('(', depth) + s.Substring(a, len) + String(')', depth) + s.Substring(a + len)
                | 6 ->
                    let lines = s.Split('\n')
                    if lines.Length > 2 then
                        let i, j = rng.Next lines.Length, rng.Next lines.Length
                        let t = lines[i]
                        lines[i] <- lines[j]
                        lines[j] <- t
                    String.Join("\n", lines)
                | _ -> s.Insert(at (), tokens[rng.Next tokens.Length])
        s

    /// A random network that mostly follows the grammar (names drawn from a small pool, so that references often
    /// resolve), with parameters, `let`s, index families, tensors with slices and conditions, clauses, `output`,
    /// cuts, `for` blocks, `require` and instances.
    let generate (rng: Random) =
        let names = [| "n"; "d"; "chi"; "i"; "j"; "k"; "a"; "b"; "p"; "q"; "A"; "B"; "T"; "W"; "x"; "h"; "𝒜"; "λ" |]
        let pick (xs: 'a array) = xs[rng.Next xs.Length]
        let rec expr depth =
            if depth <= 0 || rng.Next 3 = 0 then
                match rng.Next 6 with
                | 0 -> string (rng.Next(-2, 10))
                | 1 -> sprintf "%d.5" (rng.Next 4)
                | 2 -> pick [| "true"; "false" |]
                | _ -> pick names
            else
                match rng.Next 8 with
                | 0 -> sprintf "(%s)" (expr (depth - 1))
                | 1 -> sprintf "-%s" (expr (depth - 1))
                | 2 -> sprintf "not %s" (expr (depth - 1))
                | 3 -> sprintf "if %s then %s else %s" (expr (depth - 1)) (expr (depth - 1)) (expr (depth - 1))
                | 4 -> sprintf "%s(%s)" (pick [| "min"; "max"; "log2"; "abs"; "mix" |]) (expr (depth - 1))
                | _ -> sprintf "%s %s %s" (expr (depth - 1)) (pick [| "+"; "-"; "*"; "/"; "%"; "^"; "=="; "<"; "and"; "or" |]) (expr (depth - 1))
        let range () = sprintf "%s..%s%s" (expr 1) (expr 1) (if rng.Next 5 = 0 then " by " + expr 1 else "")
        let forClause () =
            let binders = [ for v in [ "i"; "j" ] |> List.truncate (rng.Next(1, 3)) -> sprintf "%s in %s" v (range ()) ]
            "for " + String.Join(", ", binders) + (if rng.Next 4 = 0 then " if " + expr 1 else "")
        let subs () =
            match rng.Next 4 with
            | 0 -> ""
            | 1 -> sprintf "[%s]" (expr 1)
            | 2 -> sprintf "[%s]" (range ())
            | _ -> sprintf "[%s, %s]" (expr 1) (expr 1)
        let leg () = pick names + subs () + (if rng.Next 6 = 0 then " if " + expr 1 else "")
        let legs () = "(" + String.Join(", ", [ for _ in 1 .. rng.Next(0, 4) -> leg () ]) + ")"
        let rec decl depth =
            match rng.Next 11 with
            | 0 -> sprintf "let %s = %s" (pick names) (expr 2)
            | 1 | 2 ->
                let dim = if rng.Next 6 = 0 then sprintf "dynamic(%s)" (expr 1) else expr 2
                sprintf "%sindex %s%s: %s%s" (if rng.Next 5 = 0 then "hyper " else "") (pick names) (subs ()) dim (if rng.Next 2 = 0 then " " + forClause () else "")
            | 3 | 4 | 5 ->
                let clauses =
                    [ if rng.Next 2 = 0 then forClause ()
                      if rng.Next 3 = 0 then "init " + pick [| "normal(0, 0.1)"; "identity + normal(0, 0.01)"; "copy"; "auto"; "normal(0)"; "uniform(1, 0)"; "0.5" |]
                      if rng.Next 5 = 0 then "embed " + pick [| "onehot(2)"; "trig"; "fourier(3)"; "legendre(0)" |]
                      if rng.Next 6 = 0 then "shared" ]
                sprintf "%s %s%s: %s %s" (pick [| "weight"; "weight"; "input"; "const" |]) (pick names) (subs ()) (legs ()) (String.Join(" ", clauses))
            | 6 -> "output " + legs ()
            | 7 -> sprintf "cut %s: %s | %s" (pick names) (leg ()) (if rng.Next 2 = 0 then "rest" else leg ())
            | 8 when depth > 0 -> sprintf "%s {\n%s\n}" (forClause ()) (String.Join("\n", [ for _ in 1 .. rng.Next(1, 4) -> decl (depth - 1) ]))
            | 9 -> sprintf "require %s, \"message\"" (expr 2)
            | _ -> sprintf "instance %s: %s(%s)" (pick names) (pick [| "g0"; "g1"; "g2" |]) (if rng.Next 2 = 0 then "n = " + expr 1 else "")
        let network k =
            let ps = [ for name in [ "n"; "d"; "chi" ] |> List.truncate (rng.Next 4) -> sprintf "%s: %s = %s" name (pick [| "int"; "int"; "float"; "bool" |]) (expr 1) ]
            sprintf "network g%d(%s) {\n%s\n}" k (String.Join(", ", ps)) (String.Join("\n", [ for _ in 1 .. rng.Next(1, 12) -> "  " + decl 2 ]))
        String.Join("\n", [ for k in 0 .. rng.Next 3 -> network k ])

    /// The diagnostics of a result whose range, in the input's own file, does not lie inside the text.
    let badRanges (file: string) (text: string) (diags: Diagnostic list) =
        let lines = text.Split('\n').Length
        diags
        |> List.filter (fun d ->
            d.Range.File = file
            && not (d.Range.Start.Offset >= 0L && d.Range.Start.Offset <= d.Range.End.Offset && d.Range.End.Offset <= int64 text.Length
                    && d.Range.Start.Line >= 1 && d.Range.Start.Line <= lines && d.Range.Start.Col >= 1))

    /// Compiles one input on a thread of its own (with the compiler's big stack), reading no other file, and
    /// gives up waiting after `limitMs` (the thread is then left to finish in the background).
    let check (options: Compiler.CompileOptions) (limitMs: int) (file: string) (text: string) : FuzzOutcome =
        let noFiles (_: string) = Result.Error(Compiler.Codes.cannotRead, "fuzzing reads no other file")
        let mutable result = None
        let mutable escaped = None
        let before = GC.GetTotalAllocatedBytes false
        let clock = Stopwatch.StartNew()
        let t =
            Thread((fun () ->
                        try result <- Some(Compiler.compileWith noFiles file text options)
                        with e -> escaped <- Some e),
                   256 * 1024 * 1024)
        t.IsBackground <- true
        t.Start()
        let finished = t.Join limitMs
        clock.Stop()
        { Escaped = escaped
          Hung = not finished
          Millis = clock.Elapsed.TotalMilliseconds
          Allocated = GC.GetTotalAllocatedBytes false - before
          BadRanges = (match result with Some r -> badRanges file text r.Diagnostics | None -> []) }

    /// Runs `count` inputs from `seed`: even ones mutate one of `corpus` (texts), odd ones are generated (and
    /// mutated now and then). `progress` is called every 1000 inputs.
    let run (options: Compiler.CompileOptions) (limitMs: int) (corpus: string array) (seed: int) (count: int) (progress: int -> unit) =
        let rng = Random seed
        let mutable escapes, hangs, faults, worst, worstInput, worstAlloc = 0, 0, 0, 0.0, "", 0L
        let failures = ResizeArray<string * string>()
        for k in 0 .. count - 1 do
            let text =
                if k % 2 = 0 && corpus.Length > 0 then mutate rng corpus[rng.Next corpus.Length]
                else
                    let g = generate rng
                    if rng.Next 3 = 0 then mutate rng g else g
            let o = check options limitMs "fuzz.tn" text
            if o.Escaped.IsSome then
                escapes <- escapes + 1
                if failures.Count < 10 then failures.Add((text, string o.Escaped.Value))
            if o.Hung then
                hangs <- hangs + 1
                if failures.Count < 10 then failures.Add((text, sprintf "still running after %d ms" limitMs))
            if not o.BadRanges.IsEmpty then
                faults <- faults + 1
                if failures.Count < 10 then failures.Add((text, "range outside the file: " + Diagnostic.headline o.BadRanges.Head))
            if o.Millis > worst then
                worst <- o.Millis
                worstInput <- text
            worstAlloc <- max worstAlloc o.Allocated
            if (k + 1) % 1000 = 0 then progress (k + 1)
        { Inputs = count
          Escapes = escapes
          Hangs = hangs
          RangeFaults = faults
          WorstMillis = worst
          WorstInput = worstInput
          WorstAllocated = worstAlloc
          PeakWorkingSet = Process.GetCurrentProcess().PeakWorkingSet64
          Failures = List.ofSeq failures }
