// Where the intake is and the bearer token for it, read on the Agent from a file that only the DataMiner service
// (and the Agent's administrators) can read: C:\Skyline DataMiner\Oceane\intake.json. Hyperlinks.xml is sent to
// every Cube client and a Correlation rule's action is visible to everyone who may edit rules, so neither carries
// the token (dataminer/README.md, step 4). The file is placed on every Agent with Cube's System Center >
// Tools > Synchronization. DataMiner 10.6.10/10.7.0 adds script credentials resolved against its credential
// library (engine.GetCredential, TokenCredential: SkylineCommunications/dataminer-docs,
// src/DataMiner/SLManagedAutomation/Credentials/TokenCredential.cs); a script calling it would not compile on
// older Agents, so the kit reads this file, which works on every version.
namespace Oceane.DataMiner
{
	using System;
	using System.Collections.Generic;
	using System.IO;

	/// <summary>Who writes the ticket onto the alarm: the worker (udapi, webservices) or the scripts (none).</summary>
	public enum AlarmWriter
	{
		None,
		UserDefinedApi,
		WebServices,
	}

	/// <summary>The intake's base URL and token, from the Agent's configuration file.</summary>
	public sealed class IntakeSettings
	{
		/// <summary>The file's place on every Agent.</summary>
		public const string DefaultPath = @"C:\Skyline DataMiner\Oceane\intake.json";

		/// <summary>An environment variable of the DataMiner service that names another file (and the tests' file).</summary>
		public const string PathVariable = "OCEANE_KIT_CONFIG";

		private IntakeSettings(Uri baseUrl, string token)
		{
			BaseUrl = baseUrl;
			Token = token;
		}

		public Uri BaseUrl { get; private set; }

		/// <summary>Gets the bearer token. Never logged or shown: messages name only the URL and the file.</summary>
		public string Token { get; private set; }

		/// <summary>The file the scripts read: OCEANE_KIT_CONFIG when the service has it, else DefaultPath.</summary>
		public static string FilePath
		{
			get
			{
				string configured = Environment.GetEnvironmentVariable(PathVariable);
				return string.IsNullOrWhiteSpace(configured) ? DefaultPath : configured.Trim();
			}
		}

		/// <summary>Reads {"intakeUrl": "https://...", "intakeToken": "..."} from the Agent's file.</summary>
		public static IntakeSettings Load()
		{
			string path = FilePath;
			string text;
			try
			{
				text = File.ReadAllText(path);
			}
			catch (Exception e)
			{
				if (e is IOException || e is UnauthorizedAccessException || e is ArgumentException || e is NotSupportedException)
				{
					throw new InputException("intake settings: cannot read " + path + " on this Agent (" + e.GetType().Name
						+ "); see dataminer/README.md, step 4");
				}

				throw;
			}

			IDictionary<string, object> obj;
			try
			{
				obj = Json.Parse(text) as IDictionary<string, object>;
			}
			catch (ArgumentException)
			{
				obj = null;
			}
			catch (InvalidOperationException)
			{
				obj = null;
			}

			if (obj == null)
			{
				throw new InputException("intake settings: " + path + " is not a JSON object {\"intakeUrl\": ..., \"intakeToken\": ...}");
			}

			return Create(Json.Str(obj, "intakeUrl"), Json.Str(obj, "intakeToken"), path);
		}

		/// <summary>Validates the two settings; <paramref name="source"/> names where they came from.</summary>
		public static IntakeSettings Create(string url, string token, string source)
		{
			Uri baseUrl;
			if (!Uri.TryCreate((url ?? string.Empty).Trim(), UriKind.Absolute, out baseUrl)
				|| (baseUrl.Scheme != Uri.UriSchemeHttp && baseUrl.Scheme != Uri.UriSchemeHttps))
			{
				throw new InputException("intakeUrl in " + source + ": expected an http(s) URL such as https://oceane-intake.example.net, got '"
					+ AlarmRef.Shorten(url ?? string.Empty) + "'");
			}

			if (string.IsNullOrWhiteSpace(token))
			{
				throw new InputException("intakeToken in " + source + ": required (one of the intake's OCEANE_INTAKE_TOKEN values)");
			}

			return new IntakeSettings(baseUrl, token.Trim());
		}

		/// <summary>
		/// none | udapi | webservices, as the intake's OCEANE_ALARM_WRITER (GET /form says which). An intake that does
		/// not say is taken as none: the script then writes the properties itself, which is harmless if a worker
		/// writes the same values too.
		/// </summary>
		public static AlarmWriter ParseWriter(string raw)
		{
			switch ((raw ?? string.Empty).Trim().ToLowerInvariant())
			{
				case "udapi":
					return AlarmWriter.UserDefinedApi;
				case "webservices":
					return AlarmWriter.WebServices;
				default:
					return AlarmWriter.None;
			}
		}
	}
}
