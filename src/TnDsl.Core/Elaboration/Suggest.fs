/// "Did you mean …?" hints: the closest known name to a misspelt one, offered only when the two are close
/// relative to their length, so that a one-letter name never suggests an unrelated one-letter name.
module TnDsl.Suggest

open System

/// Edit distance with adjacent transpositions (optimal string alignment).
let distance (a: string) (b: string) =
    let d = Array2D.init (a.Length + 1) (b.Length + 1) (fun i j -> if i = 0 then j elif j = 0 then i else 0)
    for i in 1 .. a.Length do
        for j in 1 .. b.Length do
            let cost = if a[i - 1] = b[j - 1] then 0 else 1
            d[i, j] <- min (min (d[i - 1, j] + 1) (d[i, j - 1] + 1)) (d[i - 1, j - 1] + cost)
            if i > 1 && j > 1 && a[i - 1] = b[j - 2] && a[i - 2] = b[j - 1] then
                d[i, j] <- min d[i, j] (d[i - 2, j - 2] + 1)
    d[a.Length, b.Length]

/// The most edits a suggestion may be away: a third of the longer name's length, rounded down. Names of one or
/// two characters therefore only match when they differ in case (`N` for `n`), never by an edit (`N` for `d`).
let allowedEdits (a: string) (b: string) = max a.Length b.Length / 3

/// True when `candidate` is a plausible intended spelling of `name`.
let isClose (name: string) (candidate: string) =
    candidate <> name
    && (String.Equals(name, candidate, StringComparison.OrdinalIgnoreCase)
        || (abs (name.Length - candidate.Length) <= allowedEdits name candidate
            && distance name candidate <= allowedEdits name candidate))

/// The closest candidate to a misspelt name, if one is close enough (ties: the first in the sequence).
let closest (name: string) (candidates: string seq) =
    candidates
    |> Seq.filter (isClose name)
    |> Seq.map (fun c -> c, (if String.Equals(name, c, StringComparison.OrdinalIgnoreCase) then 0 else distance name c))
    |> Seq.sortBy snd
    |> Seq.tryHead
    |> Option.map fst

/// The hint list for a misspelt name: `did you mean `x`?` when one is close, otherwise `otherwise`.
let hint (name: string) (candidates: string seq) (otherwise: string list) =
    match closest name candidates with
    | Some s -> [ sprintf "did you mean `%s`?" s ]
    | None -> otherwise
