using System.CommandLine;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn completion bash|zsh</c>: prints a shell function that completes <c>tn</c> command lines by asking
/// <c>tn</c> itself through System.CommandLine's <c>[suggest]</c> directive (verbs, options, the values of options
/// such as <c>--optimizer</c> and <c>--device</c>), and falls back to file names.
/// </summary>
public static class CompletionCommand
{
    /// <summary>The script for bash; zsh runs it through <c>bashcompinit</c>.</summary>
    public const string Bash = """
        # tn completion: asks `tn [suggest:POSITION] "COMMAND LINE"` (System.CommandLine) for the candidates.
        _tn_complete() {
            local IFS=$'\n'
            local candidates
            candidates=$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null)
            COMPREPLY=( $(compgen -W "${candidates}" -- "${COMP_WORDS[COMP_CWORD]}") )
        }
        complete -o default -o bashdefault -F _tn_complete tn
        """;

    /// <summary>The <c>completion</c> verb.</summary>
    public static Command Create()
    {
        var shell = new Argument<string>("SHELL") { Description = "the shell: bash or zsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion",
            "print a shell completion script (bash, zsh); see the README") { shell };
        Cli.SetAction(command, parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(shell) == "zsh")
                output.WriteLine("autoload -Uz bashcompinit && bashcompinit");
            output.WriteLine(Bash);
            return 0;
        });
        return command;
    }
}
