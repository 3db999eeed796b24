/// The reference contraction against the fully naive sum over every index assignment.
module TnDsl.Testing.Tests.ReferenceTests

open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Testing

let private tiny =
    Networks.arbitrary None |> Arb.filter (fun g -> g.Network.Indices |> Array.fold (fun acc i -> acc * Dim.size i.Dim) 1L <= 20_000L)

[<Property(MaxTest = 80)>]
let ``the stepwise reference equals the one-sum brute force on small networks`` () =
    Prop.forAll tiny (fun g ->
        let values = Values.sample Float64 7 g.Network
        let out = Array.ofList g.Network.Output
        let a = Reference.contract values out
        let b = Reference.bruteForce values out
        a.Shape = b.Shape && Array.forall2 (fun (x: float) y -> abs (x - y) <= 1e-12 * (1.0 + abs y)) a.Data b.Data)

[<Property(MaxTest = 60)>]
let ``executing any optimizer's tree gives the reference value`` () =
    Prop.forAll (Networks.arbitrary None) (fun g ->
        let net = g.Network
        let values = Values.sample Float64 3 net
        let tol = Tolerance.forNetwork Float64 net
        Oracles.orderIndependence tol net values Reference.ofTree = Ok())

[<Property(MaxTest = 40)>]
let ``tied weights get one value and copy tensors are deltas`` () =
    Prop.forAll (Networks.arbitrary None) (fun g ->
        let net = g.Network
        let values = Values.sample Float32 11 net
        net.Tensors
        |> Array.forall (fun t ->
            let sameParam = net.Tensors |> Array.filter (fun u -> u.Param = t.Param && u.Role = Weight && t.Role = Weight)
            let tiedOk = sameParam |> Array.forall (fun u -> values[u.Id].Data = values[t.Id].Data)
            let copyOk =
                t.Init <> Some Copy
                || (values[t.Id].Data |> Array.mapi (fun e x -> let idx = Dense.unflatten values[t.Id].Shape e in x = (if Array.forall ((=) idx[0]) idx then 1.0 else 0.0)) |> Array.forall id)
            let f32Ok = values[t.Id].Data |> Array.forall (fun x -> float (float32 x) = x)
            tiedOk && copyOk && f32Ok))

/// Both contractions of the kit: the stepwise reference and the one-sum brute force.
let private contractions: (string * (Dense array -> int array -> Dense)) list =
    [ "contract", Reference.contract; "bruteForce", Reference.bruteForce ]

[<Fact>]
let ``a matrix product agrees with a hand computation`` () =
    let i, j, k = 0, 1, 2
    let a = Dense.init [| i; j |] [| 2; 3 |] (fun ix -> float (ix[0] * 3 + ix[1] + 1)) // [[1,2,3],[4,5,6]]
    let b = Dense.init [| j; k |] [| 3; 2 |] (fun ix -> float (ix[0] * 2 + ix[1] + 1)) // [[1,2],[3,4],[5,6]]
    for name, contract in contractions do
        let c = contract [| a; b |] [| i; k |]
        Assert.True(([| 22.0; 28.0; 49.0; 64.0 |] = c.Data), name)
        // The result's axes follow the requested output order.
        let ct = contract [| a; b |] [| k; i |]
        Assert.True(([| 22.0; 49.0; 28.0; 64.0 |] = ct.Data), name)

[<Fact>]
let ``an index on three tensors is summed once, not squared`` () =
    let v = Dense.init [| 0 |] [| 3 |] (fun ix -> float (ix[0] + 1))
    for name, contract in contractions do
        let c = contract [| v; v; v |] [||]
        Assert.True(([| 1.0 + 8.0 + 27.0 |] = c.Data), name)
