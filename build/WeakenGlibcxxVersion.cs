// Marks the GLIBCXX_3.4.32 version requirement of TorchSharp's native shim as weak.
//
// TorchSharp-cpu 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and asks
// for GLIBCXX_3.4.32 for a single symbol (_ZSt21ios_base_library_initv) that no relocation
// uses. Debian 12 ships GCC 12's libstdc++, so the loader refuses the library. Setting
// VER_FLG_WEAK on that one entry of .gnu.version_r turns the hard failure into nothing:
// where the version exists it is bound as before, where it does not the loader goes on.
//
// The file is rewritten through a temporary copy and a rename, so a hard-linked or
// symlinked original (the NuGet cache) is never written to.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxVersion : Task
{
    [Required]
    public string Folder { get; set; } = "";

    public override bool Execute()
    {
        if (!Directory.Exists(Folder))
        {
            return true;
        }
        foreach (string shim in Directory.EnumerateFiles(Folder, "libLibTorchSharp.so", SearchOption.AllDirectories))
        {
            string outcome = ElfVersionPatch.MarkWeak(shim, "GLIBCXX_3.4.32");
            Log.LogMessage(MessageImportance.Normal, $"{shim}: GLIBCXX_3.4.32 requirement {outcome}");
        }
        return true;
    }
}

public static class ElfVersionPatch
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    /// <returns>"patched", "already weak" or "not needed" (no such requirement).</returns>
    public static string MarkWeak(string path, string version)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
        {
            throw new InvalidDataException($"{path}: not an ELF file");
        }
        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException($"{path}: only 64-bit little-endian ELF is supported");
        }

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed)
            {
                continue;
            }
            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);

            long need = offset;
            for (int n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    long name = strtab + BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadCString(elf, name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) != 0)
                        {
                            return "already weak";
                        }
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, (int)aux + 4);
                        string temp = path + ".patching";
                        File.WriteAllBytes(temp, elf);
                        File.Delete(path);
                        File.Move(temp, path);
                        return "patched";
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                need += BitConverter.ToUInt32(elf, (int)need + 12);
            }
        }
        return "not needed";
    }

    private static string ReadCString(byte[] bytes, long start)
    {
        long end = start;
        while (end < bytes.Length && bytes[end] != 0)
        {
            end++;
        }
        return Encoding.ASCII.GetString(bytes, (int)start, (int)(end - start));
    }
}
