/// `MinCut.oversized` finds the bonds each side severs from the side's own tensors; `MinCut.oversizedReference`
/// scans every index against a flag per vertex (the definition). The two must report the same bonds, bounds and
/// order on random networks (loops, hyperindices, open and closed) and on grids with uneven bond dimensions.
module TnDsl.Tests.OversizedLocalTests

open System
open Xunit
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Testing.NetworkBuilder
open TnDsl.Tests.MinCutTests

let private agree (net: FlatNetwork) =
    let fast, _ = MinCut.oversized net
    let slow, _ = MinCut.oversizedReference net
    Assert.Equal<OversizedBond list>(slow, fast)
    fast.Length

/// A random network of up to 40 tensors: a spanning tree plus extra bonds (parallel ones included) of dimensions
/// 1 to 12, open legs of dimension 1 to 4 on some tensors, and sometimes a hyperindex (open or closed).
let private randomNetwork (seed: int) =
    let rng = Random seed
    let t = rng.Next(2, 41)
    let bonds =
        [ for v in 1 .. t - 1 -> rng.Next(0, v), v, rng.Next(1, 13) ]
        @ [ for _ in 1 .. rng.Next(0, t) do
                let u, v = rng.Next(0, t), rng.Next(0, t)
                if u <> v then u, v, rng.Next(1, 13) ]
    let legs = [ for u in 0 .. t - 1 do if rng.Next(3) > 0 then u, rng.Next(1, 5) ]
    let hyper =
        if t >= 3 && rng.Next(2) = 0 then
            let members = [ 0 .. t - 1 ] |> List.sortBy (fun _ -> rng.Next()) |> List.take 3 |> List.sort
            Some(members, rng.Next(2, 6), rng.Next(2) = 0)
        else None
    let indices =
        [ for k, (_, _, d) in List.indexed bonds -> sprintf "e[%d]" k, Fixed(int64 d) ]
        @ [ for k, (_, d) in List.indexed legs -> sprintf "l[%d]" k, Fixed(int64 d) ]
        @ [ match hyper with Some(_, d, _) -> "h", Fixed(int64 d) | None -> () ]
    let tensors =
        [ for u in 0 .. t - 1 ->
              sprintf "T[%d]" u,
              [ for k, (a, b, _) in List.indexed bonds do if a = u || b = u then sprintf "e[%d]" k
                for k, (a, _) in List.indexed legs do if a = u then sprintf "l[%d]" k
                match hyper with Some(ts, _, _) when List.contains u ts -> "h" | _ -> () ] ]
    let output =
        [ for k in 0 .. legs.Length - 1 -> sprintf "l[%d]" k ] @ [ match hyper with Some(_, _, true) -> "h" | _ -> () ]
    build "random" indices tensors output

/// An lx×ly grid whose bonds have random dimensions 1 to 9 and whose sites have a physical leg of dimension 1 to 3
/// with probability 3/4.
let private unevenGrid (seed: int) (lx: int) (ly: int) =
    let rng = Random seed
    let cells = [ for x in 0 .. lx - 1 do for y in 0 .. ly - 1 -> x, y ]
    let physical = [ for x, y in cells do if rng.Next(4) > 0 then (x, y), rng.Next(1, 4) ] |> Map.ofList
    let indices =
        [ for KeyValue((x, y), d) in physical -> sprintf "p[%d,%d]" x y, Fixed(int64 d) ]
        @ [ for x, y in cells do if y < ly - 1 then sprintf "h[%d,%d]" x y, Fixed(int64 (rng.Next(1, 10))) ]
        @ [ for x, y in cells do if x < lx - 1 then sprintf "v[%d,%d]" x y, Fixed(int64 (rng.Next(1, 10))) ]
    let tensors =
        [ for x, y in cells ->
              sprintf "T[%d,%d]" x y,
              [ if physical.ContainsKey((x, y)) then sprintf "p[%d,%d]" x y
                if y > 0 then sprintf "h[%d,%d]" x (y - 1)
                if y < ly - 1 then sprintf "h[%d,%d]" x y
                if x > 0 then sprintf "v[%d,%d]" (x - 1) y
                if x < lx - 1 then sprintf "v[%d,%d]" x y ] ]
    build "grid" indices tensors [ for KeyValue((x, y), _) in physical -> sprintf "p[%d,%d]" x y ]

[<Fact>]
let ``oversized bonds: the local side search agrees with the definition on 300 random networks`` () =
    let found = [ for seed in 0 .. 299 -> agree (randomNetwork seed) ]
    // The comparison means something: many networks have oversized bonds.
    Assert.True(found |> List.filter (fun n -> n > 0) |> List.length > 50)

[<Fact>]
let ``oversized bonds: the local side search agrees with the definition on grids`` () =
    let found =
        [ for seed in 0 .. 39 -> agree (unevenGrid seed (2 + seed % 7) (1 + seed % 9)) ]
        @ [ agree (peps 6 2L 3L); agree (peps 5 2L 5L); agree (peps 4 1L 4L); agree (mps 40 2L 10L) ]
    Assert.True(found |> List.filter (fun n -> n > 0) |> List.length > 20)

[<Property(MaxTest = 150)>]
let ``oversized bonds: the local side search agrees with the definition (property)`` () =
    Prop.forAll (Arb.fromGen (genSpec true)) (fun s ->
        let net, _, _ = specNetwork s
        agree net |> ignore
        true)
