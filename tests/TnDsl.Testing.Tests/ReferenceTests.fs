/// The reference contraction against the fully naive sum over every index assignment.
module TnDsl.Testing.Tests.ReferenceTests

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
