/// A new user's probe of the ML verbs from another folder (session 25): the studies run their default lists (heads
/// its TT ranks and MERA bonds, convac its tasks) and title the images they used; tn train says when a resumed run has
/// no loop to run and refuses bonds too large for memory in one line; memory refusals name only options that apply.
module TnDsl.Cli.Tests.ProbeTests

open System.IO
open Xunit
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

/// An IDX file: the magic number, the dimensions (big-endian) and the bytes.
let private idx (magic: int) (dims: int list) (bytes: byte[]) =
    let bigEndian (n: int) = [| byte (n >>> 24); byte (n >>> 16); byte (n >>> 8); byte n |]
    Array.concat [ bigEndian magic; yield! List.map bigEndian dims; bytes ]

[<Fact>]
let ``tn study convac runs its default tasks`` () =
    // An absent --tasks was read as no task at all: the tables had no rows and nothing was trained.
    let code, out, err = tnProcess [] [ "study"; "convac"; "--epochs"; "1"; "--samples"; "40"; "--test"; "20"; "--seeds"; "1"; "--batch"; "20"; "--no-progress"; "--threads"; "1" ]
    Assert.True((code = 0), err)
    let runs = out.Split('\n') |> Array.filter (fun l -> l.Contains "wide-top" || l.Contains "wide-bottom")
    for task in [ "long-range"; "local" ] do
        Assert.True(runs |> Array.exists (fun l -> l.Contains task), sprintf "no %s run:\n%s" task out)

[<Fact>]
let ``tn study heads trains its default TT and MERA heads and titles the images it used`` () =
    // An absent --ranks or --chis was read as an empty list: only the dense head was trained. The title named the
    // limits asked for (10000 / 5000) where the data set held 20 images per split.
    inScratch "tndsl-heads-" (fun dir ->
        let folder = Path.Combine(dir, "mnist")
        Directory.CreateDirectory folder |> ignore
        let count = 20
        let random = System.Random 5
        let pixels = Array.zeroCreate<byte> (count * 28 * 28)
        random.NextBytes pixels
        for split in [ "train"; "t10k" ] do
            File.WriteAllBytes(Path.Combine(folder, split + "-images-idx3-ubyte"), idx 2051 [ count; 28; 28 ] pixels)
            File.WriteAllBytes(Path.Combine(folder, split + "-labels-idx1-ubyte"), idx 2049 [ count ] (Array.init count (fun i -> byte (i % 10))))
        let code, out, err =
            tnProcess [ "TN_DATA", dir ] [ "study"; "heads"; "--dataset"; "mnist"; "--epochs"; "1"; "--batch"; "10"; "--no-progress"; "--threads"; "1" ]
        Assert.True((code = 0), err)
        for head in [ "dense 256x16"; "TT r=2"; "TT r=8"; "MERA chi=2"; "MERA chi=4" ] do
            Assert.True(out.Contains head, sprintf "no %s head:\n%s" head out)
        Assert.Contains("(20 train / 20 test images, 1 epoch)", out))

[<Fact>]
let ``tn train --resume with --loops already reached says there is no loop to run and names only what it wrote`` () =
    // It printed the run's table and "wrote …/checkpoint.bin, history.csv, …" though it trained nothing and left both
    // files as they were.
    inScratch "tndsl-resume-" (fun dir ->
        let out = Path.Combine(dir, "bs")
        let train args =
            let code, stdout, err = tnProcess [] ([ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--dmax"; "2"; "--out"; out; "--threads"; "1" ] @ args)
            Assert.True((code = 0), sprintf "exit %d\nstdout:\n%s\nstderr:\n%s" code stdout err)
            stdout
        train [ "--loops"; "2" ] |> ignore
        let checkpoint = File.ReadAllBytes(Path.Combine(out, "checkpoint.bin"))
        let stdout = train [ "--resume"; "--loops"; "1" ]
        Assert.Contains("already holds loop 2, at or past --loops 1: no loop to run", stdout)
        Assert.Contains("/bs/nll.png, samples.png, model.tn, model.weights", stdout)
        Assert.DoesNotContain("checkpoint.bin, history.csv", stdout)
        Assert.Equal<byte[]>(checkpoint, File.ReadAllBytes(Path.Combine(out, "checkpoint.bin"))))

[<Fact>]
let ``a memory refusal by tn run and tn emit names no --batch for a network with no dynamic index`` () =
    // An MPS of 40 sites has 2^40 outputs: refused before anything is allocated. The refusal said "use a smaller
    // --batch", which these verbs refuse for a network with no dynamic index.
    for args in [ [ "run"; mps; "--set"; "n=40"; "--threads"; "1" ]; [ "emit"; mps; "--cs"; "--set"; "n=40" ] ] do
        let code, _, err = tn args
        Assert.True((code = 1), sprintf "%A: exit %d\n%s" args code err)
        Assert.Contains("the forward pass needs at least", err)
        Assert.Contains("use smaller parameters (--set), or raise the limit", err)
        Assert.DoesNotContain("--batch", err)
    // A layer keeps the advice: its batch is the one thing that grows.
    let code, _, err = tn [ "run"; Path.Combine(examplesDir, "layers", "tt-linear.tn"); "--batch"; "100000000000" ]
    Assert.Equal(1, code)
    Assert.Contains("use a smaller --batch", err)

[<Fact>]
let ``tn train born-machine with bonds too large for memory is refused in one line`` () =
    // A bond of 100,000 (--set chi=100000) ended in an unhandled OverflowException, allocating the initial sites.
    inScratch "tndsl-bonds-" (fun dir ->
        let code, stdout, err =
            tnProcess [] [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--set"; "chi=100000"; "--loops"; "1"; "--out"; Path.Combine(dir, "big"); "--threads"; "1" ]
        Assert.True((code = 1), sprintf "exit %d\nstdout:\n%s\nstderr:\n%s" code stdout err)
        Assert.StartsWith("tn train born-machine: born_machine: the initial MPS (16 sites, bonds up to 100,000, float64)", err)
        Assert.DoesNotContain("   at ", err))
