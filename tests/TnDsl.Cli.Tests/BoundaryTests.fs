/// The F#/C# boundary: the C# libraries and applications name no Core type but those of `Interop/Api.fs`, and no
/// F# collection, option or function type.
module TnDsl.Cli.Tests.BoundaryTests

open System
open System.IO
open System.Reflection.Metadata
open System.Reflection.PortableExecutable
open System.Text.RegularExpressions
open Xunit
open TnDsl.Tests.Support

/// The full names of the types `Interop/Api.fs` declares (a module that shares a type's name gets F#'s `Module`
/// suffix), read from its text: the boundary is that one file.
let apiTypes =
    let text = File.ReadAllLines(Path.Combine(repoRoot, "src", "TnDsl.Core", "Interop", "Api.fs"))
    let mutable ns = ""
    let types = Collections.Generic.List<string * string>()
    for line in text do
        let m = Regex.Match(line, @"^namespace\s+([\w.]+)")
        if m.Success then ns <- m.Groups[1].Value
        let m = Regex.Match(line, @"^(type|and|module)\s+(?:private\s+|internal\s+)?(\w+)")
        if m.Success then types.Add((ns + "." + m.Groups[2].Value, m.Groups[1].Value))
    let typeNames = types |> Seq.filter (fun (_, k) -> k <> "module") |> Seq.map fst |> set
    types
    |> Seq.map (fun (name, kind) -> if kind = "module" && typeNames.Contains name then name + "Module" else name)
    |> set

/// The C# assemblies outside tests that the `tn` command carries: the backend, the native workaround and the
/// applications.
let csharpAssemblies = [ "TnDsl.Torch"; "TnDsl.Native"; "tn"; "TnDsl.BornMachine"; "TnDsl.Data"; "TnDsl.Studies" ]

/// Every type an assembly references in another assembly: (referenced assembly, outermost type's full name).
let referencedTypes (assembly: string) =
    use stream = File.OpenRead(Path.Combine(AppContext.BaseDirectory, assembly + ".dll"))
    use pe = new PEReader(stream)
    let md = pe.GetMetadataReader()
    let rec outermost (h: TypeReferenceHandle) =
        let t = md.GetTypeReference h
        match t.ResolutionScope.Kind with
        | HandleKind.TypeReference -> outermost (TypeReferenceHandle.op_Explicit t.ResolutionScope)
        | HandleKind.AssemblyReference ->
            let a = md.GetAssemblyReference(AssemblyReferenceHandle.op_Explicit t.ResolutionScope)
            Some(md.GetString a.Name, md.GetString t.Namespace + "." + md.GetString t.Name)
        | _ -> None
    md.TypeReferences |> Seq.choose outermost |> Seq.distinct |> List.ofSeq

[<Fact>]
let ``the boundary file declares the views C# reads`` () =
    for name in [ "TnDsl.Api.NetworkView"; "TnDsl.Api.TnException"; "TnDsl.PlanView"; "TnDsl.CutsView"; "TnDsl.Api.RangeView" ] do
        Assert.Contains(name, apiTypes)
    Assert.DoesNotContain("TnDsl.FlatNetwork", apiTypes)

[<Fact>]
let ``no C# assembly outside tests names a Core type but the boundary's, nor an F# collection, option or function`` () =
    let offending =
        [ for assembly in csharpAssemblies do
              for (scope, name) in referencedTypes assembly do
                  if (scope = "TnDsl.Core" && not (apiTypes.Contains name)) || scope = "FSharp.Core" then
                      yield sprintf "%s: %s (%s)" assembly name scope ]
    Assert.True(offending.IsEmpty, "C# reaches past Interop/Api.fs:\n" + String.concat "\n" offending)
    // The check sees what it should: the backend does read the boundary.
    Assert.Contains(("TnDsl.Core", "TnDsl.Api.NetworkView"), referencedTypes "TnDsl.Torch")
