/// Session 16's late fixes around `tn plan --einsum --optimizer greedy`: a size of 0 in `--shapes` refused with
/// one message saying why, "did you mean" only for close names, `tn cuts --cut` with an unknown name a usage error
/// (exit 2), and the human report's arrows (no trailing space for a scalar, a diagonal shown as written).
module TnDsl.Cli.Tests.GreedySurfaceTests

open System.IO
open System.Text.Json
open Xunit
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

let private assertExit (expected: int) (code: int, out: string, err: string) =
    Assert.True((code = expected), sprintf "exit %d (expected %d)\nstdout: %s\nstderr: %s" code expected out err)

[<Fact>]
let ``tn plan --optimizer greedy costs a,faba,e,f,,->abef at opt_einsum's greedy figure, 230 flops (590 before)`` () =
    let code, out, err = plan [ "--einsum"; "a,faba,e,f,,->abef"; "--shapes"; "4,7x4x7x4,1,7,,"; "--optimizer"; "greedy"; "--json" ]
    assertExit 0 (code, out, err)
    Assert.Equal(230L, JsonDocument.Parse(out).RootElement.GetProperty("flops").GetInt64())

[<Fact>]
let ``a size of 0 in --shapes is one error at the 0 saying an empty operand has nothing to plan`` () =
    let code, out, err = plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,0x4" ]
    assertExit 1 (code, out, err)
    Assert.Contains("<shapes>(1,5): error TN0303: '0' is not a size here: an empty operand (size 0)", err)
    Assert.Equal(1, err.Split("error TN").Length - 1)

[<Fact>]
let ``--size on a JSON network suggests only close names: none for q among a, b, c; a for A`` () =
    inScratch "tndsl-s16g-" (fun dir ->
        let file = Path.Combine(dir, "net.json")
        File.WriteAllText(file, "{\"tensors\": [{\"name\": \"A\", \"indices\": [\"a\", \"b\"]}, {\"name\": \"B\", \"indices\": [\"b\", \"chi\"]}], \"sizes\": {\"a\": 2, \"b\": 3, \"chi\": 4}, \"output\": [\"a\", \"chi\"]}")
        let code, out, err = plan [ file; "--size"; "q=10" ]
        assertExit 2 (code, out, err)
        Assert.DoesNotContain("did you mean", err)
        let _, _, err = plan [ file; "--size"; "A=10" ]
        Assert.Contains("did you mean a?", err)
        let _, _, err = plan [ file; "--size"; "chj=10" ]
        Assert.Contains("did you mean chi?", err)
        let _, _, err = plan [ file; "--size"; "xyz=10" ]
        Assert.DoesNotContain("did you mean", err))

[<Fact>]
let ``tn cuts --cut with an unknown name exits 2, as other argument mistakes do`` () =
    let code, out, err = cuts [ mps; "--cut"; "nope" ]
    assertExit 2 (code, out, err)
    Assert.Contains("declared cuts: half", err)

[<Fact>]
let ``the human report writes a scalar result without a trailing space and a diagonal as written`` () =
    let code, out, err = plan [ "--einsum"; "ii->"; "--shapes"; "3x3" ]
    assertExit 0 (code, out, err)
    let lines = out.Split('\n') |> Array.map (fun l -> l.TrimEnd('\r'))
    Assert.Contains(lines, fun l -> l.EndsWith "Contraction:           ii ->")
    Assert.Contains(lines, fun l -> l.EndsWith "  ii ->" && l.TrimStart().StartsWith "1 ")
    Assert.DoesNotContain(lines, fun l -> l.EndsWith "-> ")
    let _, out, _ = plan [ "--einsum"; "ii->i"; "--shapes"; "3x3" ]
    Assert.Contains(out.Split('\n'), fun l -> l.TrimEnd().EndsWith "  ii -> i" && l.TrimStart().StartsWith "1 ")
