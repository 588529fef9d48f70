// The names the scripts share with the intake and the worker (docs/oceane-api.md section 5), the input error,
// and the script-parameter reader. dataminer/build_scripts.py puts every file of scripts/common into each
// script's C# block (after the script's own code), so each script imports as one self-contained XML file.
// Kept to C# 6 and .NET Framework 4.x: DataMiner compiles Automation scripts itself, and the tests compile
// them with Mono's mcs against tests/dataminer_stub.
namespace Oceane.DataMiner
{
	using System;

	using Skyline.DataMiner.Automation;

	/// <summary>Names shared with the intake and the worker.</summary>
	public static class OceaneNames
	{
		public const string TicketIdProperty = "Oceane Ticket ID";
		public const string TicketUrlProperty = "Oceane Ticket URL";
		public const string TicketStatusProperty = "Oceane Ticket Status";

		public const string DmaIdParam = "DMA ID";
		public const string ElementIdParam = "Element ID";
		public const string AlarmIdParam = "Alarm ID";
		public const string ElementNameParam = "Element Name";
		public const string AlarmValueParam = "Alarm Value";
		public const string RootTimeParam = "Root Time";

		/// <summary>
		/// What HyperLinks.xml puts between the values of several selected alarms (its separator attribute with
		/// combineParameters="true"; DataMiner's default "+" could be part of an element name or an alarm value).
		/// </summary>
		public const char CombineSeparator = '\u00B6';

		/// <summary>The only alarm properties these scripts ever write.</summary>
		public static readonly string[] AlarmProperties = { TicketIdProperty, TicketUrlProperty, TicketStatusProperty };

		/// <summary>Longest property value accepted (a URL or an ID is far shorter; this stops junk).</summary>
		public const int MaxPropertyLength = 2048;
	}

	/// <summary>A mistake in the input or the configuration; the message names the field and what is allowed.</summary>
	public sealed class InputException : Exception
	{
		public InputException(string message) : base(message)
		{
		}
	}

	/// <summary>Reads script parameters.</summary>
	public static class ScriptParams
	{
		/// <summary>The trimmed value of a parameter the script declares.</summary>
		public static string Get(IEngine engine, string name)
		{
			ScriptParam param = engine.GetScriptParam(name);
			if (param == null)
			{
				throw new InputException("script parameter '" + name + "' is not defined on this script");
			}

			return (param.Value ?? string.Empty).Trim();
		}

		/// <summary>The value of a parameter a caller may leave out; empty when it is absent.</summary>
		public static string Optional(IEngine engine, string name)
		{
			try
			{
				ScriptParam param = engine.GetScriptParam(name);
				return param == null ? string.Empty : (param.Value ?? string.Empty).Trim();
			}
			catch (ScriptAbortException)
			{
				throw;
			}
			catch (Exception)
			{
				// DataMiner throws for a parameter the caller did not pass: that is what "optional" means here.
				return string.Empty;
			}
		}
	}
}
