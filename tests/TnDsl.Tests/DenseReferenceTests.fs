module TnDsl.Tests.DenseReferenceTests

open Xunit
open TnDsl.Tests.DenseReference

[<Fact>]
let ``matrix product agrees with a hand computation`` () =
    let a = init [ "i"; "j" ] [ 2; 3 ] (fun ix -> float (ix[0] * 3 + ix[1] + 1)) // [[1,2,3],[4,5,6]]
    let b = init [ "j"; "k" ] [ 3; 2 ] (fun ix -> float (ix[0] * 2 + ix[1] + 1)) // [[1,2],[3,4],[5,6]]
    let c = contract [ a; b ] [ "i"; "k" ]
    Assert.Equal<float array>([| 22.0; 28.0; 49.0; 64.0 |], c.Data)

[<Fact>]
let ``an index on three tensors is summed once, not squared`` () =
    let v = init [ "i" ] [ 3 ] (fun ix -> float (ix[0] + 1))
    let c = contract [ v; v; v ] []
    Assert.Equal<float array>([| 1.0 + 8.0 + 27.0 |], c.Data)
