/// The `tn` command as a new user meets it (session 13's audit): a mistake gets one clear message and a non-zero
/// exit before any work is lost or any file is replaced, and an option far out of range is refused, not obeyed
/// until the machine gives out.
module TnDsl.Cli.Tests.RobustnessTests

open System
open System.IO
open System.Text.RegularExpressions
open Xunit
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

/// A scratch folder with a copy of an example in it.
let private scratchWith (example: string) =
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    let path = Path.Combine(dir, example)
    File.Copy(Path.Combine(examplesDir, example), path)
    dir, path

/// The `file(line,col): error TN….` lines of a verb's error stream.
let private errorLines (err: string) = Regex.Matches(err, @"\): error TN\d{4}:") |> Seq.length

[<Fact>]
let ``-o naming the .tn file being read is a usage error, and the file is left as it was`` () =
    let dir, path = scratchWith "mps.tn"
    try
        let before = File.ReadAllText path
        for args in
            [ [ "emit"; path; "--cs"; "-o"; path ]
              [ "export"; path; "--json"; "-o"; path ] ] do
            let code, _, err = tn args
            Assert.True((code = 2), $"{args}: exit {code}, {err}")
            Assert.Contains("-o", err)
            Assert.Equal(before, File.ReadAllText path)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract refuses -o or --resume naming a file it reads, before contracting`` () =
    let dir, path = scratchWith "grid.tn"
    try
        let before = File.ReadAllText path
        for args in
            [ [ "contract"; path; "--set"; "L=3"; "-o"; path ]
              [ "contract"; path; "--set"; "L=3"; "--resume"; path ] ] do
            let code, out, err = tn args
            Assert.True((code = 2), $"{args}: exit {code}, {err}")
            Assert.Equal("", out)
            Assert.Equal(before, File.ReadAllText path)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``an output file that cannot be written is reported, naming it and why, before the work is done`` () =
    let dir, path = scratchWith "grid.tn"
    try
        let missing = Path.Combine(dir, "no-such-folder", "psi.npy")
        for args, output in
            [ [ "contract"; path; "--set"; "L=3"; "-o"; missing ], missing
              [ "contract"; path; "--set"; "L=3"; "-o"; dir ], dir
              [ "contract"; path; "--set"; "L=3"; "--resume"; missing ], missing
              [ "emit"; path; "--cs"; "-o"; missing ], missing
              [ "export"; path; "--json"; "-o"; dir ], dir
              [ "draw"; path; "-o"; Path.Combine(dir, "no-such-folder", "net.svg") ], Path.Combine(dir, "no-such-folder", "net.svg") ] do
            let code, out, err = tn args
            Assert.True((code = 1), $"{args}: exit {code}, {err}")
            Assert.Contains($"cannot write {output}", err)
            Assert.True(err.Contains "folder", err)
            // Nothing was contracted: no value printed.
            Assert.DoesNotContain("value", out)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``a thread count far past any machine is a usage error, not hours spent starting threads`` () =
    let grid = Path.Combine(examplesDir, "grid.tn")
    for args in
        [ [ "contract"; grid; "--set"; "L=3"; "--threads"; "100000" ]
          [ "run"; Path.Combine(examplesDir, "mps.tn"); "--threads"; "100000" ]
          [ "train"; "born-machine"; "--threads"; "100000" ]
          [ "worker"; "--threads"; "100000" ] ] do
        let code, _, err = tn args
        Assert.True((code = 2), $"{args}: exit {code}, {err}")
        Assert.Contains("--threads takes an integer from 1 to 1024, got '100000'", err)

[<Fact>]
let ``a folder given as the file is an error that says it is a folder`` () =
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    try
        let code, _, err = tn [ "check"; dir ]
        Assert.Equal(1, code)
        Assert.Contains("folder", err)
        Assert.DoesNotContain("no such file", err)
    finally
        Directory.Delete dir

[<Fact>]
let ``a parameter set below what the file requires gives one error, the requirement's`` () =
    for n in [ "0"; "1" ] do
        let code, _, err = tn [ "check"; Path.Combine(examplesDir, "mps.tn"); "--set"; $"n={n}" ]
        Assert.Equal(1, code)
        Assert.Equal(1, errorLines err)
        Assert.Contains("error TN0115: an MPS needs at least two sites", err)

[<Fact>]
let ``tn draw lays out a large network that is neither chain nor grid in bounded work`` () =
    // A ring of 20,000 with one odd tensor takes the force layout, whose every iteration weighs all pairs: at 100
    // iterations this was 2e10 pair updates (tens of minutes); now its work is capped. (A ring of 10,000: more
    // tensors than that are refused, see DrawGeometryTests.)
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    try
        let ring = Path.Combine(dir, "ring.tn")
        File.WriteAllText(ring, "network ring(n: int = 9999) {\n  index b[i]: 2 for i in 0..n\n  weight Z: (b[0], b[n])\n  weight A[i]: (b[i], b[i+1]) for i in 0..n-1\n  output ()\n}\n")
        let code, out, err = tn [ "draw"; ring; "-o"; Path.Combine(dir, "ring.svg") ]
        Assert.True((code = 0), err)
        Assert.StartsWith("wrote", out)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract --cluster with no worker there says so in one line, with no stack trace on standard output`` () =
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    try
        let secret = Path.Combine(dir, "secret")
        File.WriteAllText(secret, String('s', 40))
        let port = TnDsl.Cluster.ClusterHosts.FreeLoopbackPorts(1)[0]
        // As a process: Orleans' host logs to the console, past the writers an in-process run captures.
        let code, out, err =
            tnProcess [] [ "contract"; Path.Combine(examplesDir, "grid.tn"); "--set"; "L=3"; "--cluster"; $"127.0.0.1:{port}"; "--secret-file"; secret; "--json" ]
        Assert.Equal(1, code)
        Assert.Equal("", out)
        Assert.Contains("no worker answers", err)
        Assert.DoesNotContain("   at ", err)
        Assert.DoesNotContain("Exception", err)
    finally
        Directory.Delete(dir, true)

/// A worker's opener whose jobs do not open until released: a client that sends it a job waits, mid-run.
type private HeldOpener() =
    let asked = new System.Threading.ManualResetEventSlim(false)
    let released = new System.Threading.ManualResetEventSlim(false)
    /// Set once a client has sent a job.
    member _.Asked = asked
    member _.Release() = released.Set()
    interface TnDsl.Cluster.ISliceWorkOpener with
        member _.UseThreads _ = ()
        member _.Open _ =
            asked.Set()
            released.Wait()
            raise (InvalidDataException "released")

[<Fact>]
let ``tn contract --cluster stops on SIGTERM as on Ctrl-C: the record saved, one line, exit 1`` () =
    // Seen with bench/cluster-crash.sh: `kill PID` (or timeout) left a --cluster client running for good, the client
    // host's console lifetime having taken the signal and stopped the connection under the scheduler.
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    let opener = HeldOpener()
    let ports = TnDsl.Cluster.ClusterHosts.FreeLoopbackPorts(2)
    TnDsl.Native.NativeLoader.EnsureLoaded() |> ignore
    use worker =
        TnDsl.Cluster.ClusterHosts.Worker(Net.IPEndPoint(Net.IPAddress.Loopback, ports[0]), Net.IPAddress.Loopback, ports[0], ports[1],
                                          TnDsl.Cluster.ClusterSecret.FromText(String('s', 40)), opener)
    worker.StartAsync(Threading.CancellationToken.None).Wait()
    try
        let secret = Path.Combine(dir, "secret")
        File.WriteAllText(secret, String('s', 40))
        let record = Path.Combine(dir, "record.json")
        let info = Diagnostics.ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "tn"))
        for a in [ "contract"; Path.Combine(examplesDir, "grid.tn"); "--set"; "L=6"; "--memory-limit"; "100K"; "--threads"; "1"
                   "--resume"; record; "--cluster"; $"127.0.0.1:{ports[1]}"; "--secret-file"; secret ] do
            info.ArgumentList.Add a
        info.WorkingDirectory <- repoRoot
        info.RedirectStandardOutput <- true
        info.RedirectStandardError <- true
        use p = Diagnostics.Process.Start info
        let out = p.StandardOutput.ReadToEndAsync()
        let err = p.StandardError.ReadToEndAsync()
        try
            Assert.True(opener.Asked.Wait(TimeSpan.FromMinutes 2.0), "the client never sent the job")
            use kill = Diagnostics.Process.Start("kill", [ "-TERM"; string p.Id ])
            kill.WaitForExit()
            Assert.True(p.WaitForExit(60000), "tn contract --cluster did not stop within 60 s of SIGTERM")
        finally
            if not p.HasExited then p.Kill true
        let lines = err.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        Assert.True((p.ExitCode = 1), sprintf "exit %d\n%s" p.ExitCode err.Result)
        Assert.True((lines.Length = 1), err.Result)
        Assert.Contains("interrupted after 0 of", err.Result)
        Assert.Equal("", out.Result)
        Assert.True(File.Exists record, "no record saved")
    finally
        opener.Release()
        worker.StopAsync(Threading.CancellationToken.None).Wait()
        Directory.Delete(dir, true)

/// A `tn worker` process on loopback whose output and error lines are collected as they come.
type private WorkerProcess(secret: string, primaryPort: int, port: int, gatewayPort: int) =
    let lines = Collections.Concurrent.ConcurrentQueue<string>()
    let p =
        let info = Diagnostics.ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "tn"))
        for a in [ "worker"; "--cluster"; $"127.0.0.1:{primaryPort}"; "--port"; string port; "--gateway-port"; string gatewayPort
                   "--secret-file"; secret; "--threads"; "1" ] do
            info.ArgumentList.Add a
        info.WorkingDirectory <- repoRoot
        info.RedirectStandardOutput <- true
        info.RedirectStandardError <- true
        let p = new Diagnostics.Process(StartInfo = info)
        p.OutputDataReceived.Add(fun e -> if not (isNull e.Data) then lines.Enqueue e.Data)
        p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then lines.Enqueue e.Data)
        p.Start() |> ignore
        p.BeginOutputReadLine()
        p.BeginErrorReadLine()
        p
    member _.Lines = Array.ofSeq lines
    member _.Process = p
    /// Waits (up to `minutes`) for a line that `wanted` accepts; fails with every line so far.
    member this.Await(wanted: string -> bool, what: string, minutes: float) =
        let deadline = DateTime.UtcNow.AddMinutes minutes
        while not (Seq.exists wanted lines) && DateTime.UtcNow < deadline && not p.HasExited do
            Threading.Thread.Sleep 100
        Assert.True(Seq.exists wanted lines, sprintf "%s: not seen; the worker printed:\n%s" what (String.Join("\n", this.Lines)))
    interface IDisposable with
        member _.Dispose() =
            if not p.HasExited then p.Kill true
            p.WaitForExit()
            p.Dispose()

[<Fact>]
let ``a tn worker says in one line that a killed peer was lost, with no Orleans warning or stack trace`` () =
    // Seen with bench/cluster-crash.sh: every surviving worker printed about 100 lines of Orleans warnings and errors,
    // each with its stack trace, for a peer killed with SIGKILL.
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    try
        let secret = Path.Combine(dir, "secret")
        File.WriteAllText(secret, String('s', 40))
        let ports = TnDsl.Cluster.ClusterHosts.FreeLoopbackPorts(4)
        use primary = new WorkerProcess(secret, ports[0], ports[0], ports[1])
        primary.Await((fun l -> l.Contains "Ctrl-C stops it"), "the primary's start", 3.0)
        let peer = new WorkerProcess(secret, ports[0], ports[2], ports[3])
        try
            primary.Await((fun l -> l = $"worker 127.0.0.1:{ports[2]} joined"), "the peer joining", 3.0)
            peer.Process.Kill()
            peer.Process.WaitForExit()
        finally
            (peer :> IDisposable).Dispose()
        let lost = $"worker 127.0.0.1:{ports[2]} lost: "
        primary.Await((fun l -> l.StartsWith lost), "the line on the lost peer", 3.0)
        let lines = primary.Lines
        let listing = String.Join("\n", lines)
        // Its two start lines, the peer's arrival and its loss: nothing from Orleans (its warnings need --verbose).
        Assert.True((lines.Length = 4), listing)
        Assert.DoesNotContain(lines, fun l -> l.Contains "   at " || l.StartsWith "warn" || l.Contains "Exception")
        Assert.Single(lines, fun (l: string) -> l.StartsWith lost) |> ignore
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``a network of one tensor has one step in tn plan, tn run and tn emit alike`` () =
    // tn plan lists the lone tensor's step (`ab -> ab`, 16 flops, as opt_einsum does); tn run said "0 steps" beside
    // the same 16 flops, with an empty kernels line.
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    try
        let one = Path.Combine(dir, "one.tn")
        File.WriteAllText(one, "network one(d: int = 4) {\n  index a: d\n  index b: d\n  weight W: (a, b)\n  output (a, b)\n}\n")
        let code, out, err = tn [ "plan"; one; "--no-scaling"; "--json" ]
        Assert.True((code = 0), err)
        use doc = System.Text.Json.JsonDocument.Parse out
        Assert.Equal(1, doc.RootElement.GetProperty("path").GetArrayLength())
        let code, out, err = tnProcess [] [ "run"; one; "--threads"; "1"; "--repeat"; "1" ]
        Assert.True((code = 0), err)
        Assert.Matches(@"\n  plan        auto \(chose [^)]*\): 16 flops, largest intermediate 16 elements, 1 step\n", out)
        Assert.Contains("\n  kernels     none (one tensor: no pairwise product)\n", out)
        let code, _, err = tn [ "emit"; one; "--cs"; "-o"; Path.Combine(dir, "One.cs") ]
        Assert.True((code = 0), err)
        Assert.Contains("(class One, 1 step)", err)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``one tensor and one step are counted in the singular by tn run, tn contract and tn draw --plan`` () =
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    try
        let one = Path.Combine(dir, "one.tn")
        File.WriteAllText(one, "network one(d: int = 4) {\n  index a: d\n  index b: d\n  weight W: (a, b)\n  output (a, b)\n}\n")
        let code, out, err = tnProcess [] [ "run"; one; "--threads"; "1"; "--repeat"; "1" ]
        Assert.True((code = 0), err)
        Assert.StartsWith("network one: 1 tensor, float32 on cpu", out)
        Assert.Contains("  parameters  16 trainable scalars in 1 tensor\n", out)
        let code, out, err = tn [ "contract"; one; "--threads"; "1"; "-o"; Path.Combine(dir, "one.npy") ]
        Assert.True((code = 0), err)
        Assert.StartsWith("network one: 1 tensor, float64, 1 thread", out)
        let svg = Path.Combine(dir, "plan.svg")
        let code, _, err = tn [ "draw"; one; "--plan"; "-o"; svg ]
        Assert.True((code = 0), err)
        Assert.Contains("flops in 1 step", File.ReadAllText svg)
    finally
        Directory.Delete(dir, true)

[<Theory>]
[<InlineData("-o", "samples.svg")>]
[<InlineData("--plot", "nll.jpg")>]
let ``tn sample refuses a picture not named .png, before reading anything (it wrote PNG bytes under any name)``
    (option: string, name: string) =
    let dir = Directory.CreateTempSubdirectory("tndsl-robust-").FullName
    try
        let out = Path.Combine(dir, name)
        let code, _, err = tn [ "sample"; Path.Combine(dir, "no-model"); option; out ]
        Assert.True((code = 2), sprintf "exit %d: %s" code err)
        Assert.Contains(sprintf "%s %s: the picture is written as .png" option out, err)
        Assert.False(File.Exists out)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``the studies' list defaults are shown as they are typed, with commas (System.CommandLine showed 2|8)`` () =
    let _, heads, _ = tn [ "study"; "heads"; "--help" ]
    let _, convac, _ = tn [ "study"; "convac"; "--help" ]
    let flat (text: string) = Regex.Replace(text, @"\s+", " ")
    Assert.Contains("TT ranks of the TT head [default: 2,8]", flat heads)
    Assert.Contains("bond dimensions of the MERA head [default: 2,4]", flat heads)
    Assert.Contains("[default: long-range,local]", flat convac)
    for shown in [ "2|8"; "2|4"; "long-range|local" ] do
        Assert.DoesNotContain(shown, heads + convac)
