// Runs one Oceane Automation script under Mono against a recording engine, for tests/unit/test_dataminer_kit.py.
// Usage: mono harness.exe scenario.json   (compiled together with Automation.cs, the script and OceaneCommon.cs)
// scenario: {"entry": "run" | "api" | "gqi", "user": "...", "params": {name: value}, "ui": [{"values": {...}, "press": "create"}],
//            "paramsById": {"65006": "..."} (the special parameters a Correlation rule passes), "elements": {"12/345": "name"},
//            "api": {"method": "Post", "body": "..."}, "source": "<GQIMetaData name>"}
// The intake's settings come from the file OCEANE_KIT_CONFIG names, as on an Agent.
// Prints one JSON object: properties set, script outputs, logs, dialogs shown, how the script ended, the API answer.
namespace OceaneHarness
{
	using System;
	using System.Collections.Generic;
	using System.IO;
	using System.Linq;
	using System.Reflection;
	using System.Web.Script.Serialization;

	using Skyline.DataMiner.Automation;
	using Skyline.DataMiner.Analytics.GenericInterface;
	using Skyline.DataMiner.Net.Apps.UserDefinableApis.Actions;

	/// <summary>An engine that records what the script does and answers dialogs from the scenario.</summary>
	public sealed class RecordingEngine : IEngine
	{
		private readonly Dictionary<string, string> parameters;
		private readonly Queue<Dictionary<string, object>> uiAnswers;
		private readonly Dictionary<string, string> parametersById = new Dictionary<string, string>();
		private readonly Dictionary<string, string> elements = new Dictionary<string, string>();

		public RecordingEngine(string user, Dictionary<string, string> parameters, IEnumerable<Dictionary<string, object>> uiAnswers)
		{
			UserLoginName = user;
			this.parameters = parameters;
			this.uiAnswers = new Queue<Dictionary<string, object>>(uiAnswers);
			Properties = new List<object[]>();
			Outputs = new Dictionary<string, string>();
			Logs = new List<string>();
			Dialogs = new List<Dictionary<string, object>>();
		}

		public string UserLoginName { get; private set; }

		public List<object[]> Properties { get; private set; }

		public Dictionary<string, string> Outputs { get; private set; }

		public List<string> Logs { get; private set; }

		public List<Dictionary<string, object>> Dialogs { get; private set; }

		public ScriptParam GetScriptParam(string name)
		{
			string value;
			if (!parameters.TryGetValue(name, out value))
			{
				// What DataMiner does for a parameter the caller did not pass.
				throw new ArgumentException("Parameter '" + name + "' not found");
			}

			return new ScriptParam(0, name, value);
		}

		/// <summary>The scenario's paramsById entry, or null as DataMiner answers for an ID it does not have.</summary>
		public ScriptParam GetScriptParam(int id)
		{
			string value;
			return parametersById.TryGetValue(id.ToString(), out value) ? new ScriptParam(id, "<" + id + ">", value) : null;
		}

		/// <summary>The scenario's element of that key, or null as DataMiner answers for an unknown one.</summary>
		public Element FindElement(int dmaID, int elementID)
		{
			string name;
			return elements.TryGetValue(dmaID + "/" + elementID, out name) ? new Element(name) : null;
		}

		public void Load(Dictionary<string, object> scenario)
		{
			object raw;
			if (scenario.TryGetValue("paramsById", out raw))
			{
				foreach (KeyValuePair<string, object> pair in (Dictionary<string, object>)raw)
				{
					parametersById[pair.Key] = Convert.ToString(pair.Value);
				}
			}

			if (scenario.TryGetValue("elements", out raw))
			{
				foreach (KeyValuePair<string, object> pair in (Dictionary<string, object>)raw)
				{
					elements[pair.Key] = Convert.ToString(pair.Value);
				}
			}
		}

		public void SetAlarmProperty(int dataMinerID, int elementID, int alarmID, string propertyName, string propertyValue)
		{
			Properties.Add(new object[] { dataMinerID, elementID, alarmID, propertyName, propertyValue });
		}

		public UIResults ShowUI(UIBuilder uiBuilder)
		{
			var texts = uiBuilder.StubBlocks.Where(b => b.Type == UIBlockType.StaticText).Select(b => b.Text).ToList();
			var dropDowns = new Dictionary<string, object>();
			var required = new List<string>();
			foreach (UIBlockDefinition block in uiBuilder.StubBlocks.Where(b => b.Type == UIBlockType.DropDown))
			{
				dropDowns[block.DestVar] = block.StubOptions.ToList();
				if (block.IsRequired)
				{
					required.Add(block.DestVar);
				}
			}

			Dialogs.Add(new Dictionary<string, object>
			{
				{ "title", uiBuilder.Title }, { "texts", texts }, { "dropDowns", dropDowns }, { "required", required },
			});
			var results = new UIResults();
			if (uiAnswers.Count == 0)
			{
				results.StubPress("close");
				return results;
			}

			Dictionary<string, object> answer = uiAnswers.Dequeue();
			object values;
			if (answer.TryGetValue("values", out values))
			{
				foreach (KeyValuePair<string, object> pair in (Dictionary<string, object>)values)
				{
					results.StubSet(pair.Key, Convert.ToString(pair.Value));
				}
			}

			object press;
			if (answer.TryGetValue("press", out press))
			{
				results.StubPress(Convert.ToString(press));
			}

			return results;
		}

		public void AddScriptOutput(string key, string value)
		{
			Outputs[key] = value;
		}

		public void Log(string message)
		{
			Logs.Add(message);
		}

		public void ExitFail(string reason)
		{
			throw new ScriptAbortException("fail:" + reason);
		}
	}

	/// <summary>The harness program.</summary>
	public static class Program
	{
		public static int Main(string[] args)
		{
			var serializer = new JavaScriptSerializer();
			var scenario = (Dictionary<string, object>)serializer.DeserializeObject(File.ReadAllText(args[0]));
			var parameters = new Dictionary<string, string>();
			object raw;
			if (scenario.TryGetValue("params", out raw))
			{
				foreach (KeyValuePair<string, object> pair in (Dictionary<string, object>)raw)
				{
					parameters[pair.Key] = Convert.ToString(pair.Value);
				}
			}

			var ui = new List<Dictionary<string, object>>();
			if (scenario.TryGetValue("ui", out raw))
			{
				ui.AddRange(((object[])raw).Cast<Dictionary<string, object>>());
			}

			string user = scenario.ContainsKey("user") ? Convert.ToString(scenario["user"]) : "operator";
			var engine = new RecordingEngine(user, parameters, ui);
			engine.Load(scenario);
			var result = new Dictionary<string, object>();
			if (Convert.ToString(scenario["entry"]) == "gqi")
			{
				result["gqi"] = RunGqi(Convert.ToString(scenario["source"]));
				Console.Out.Write(serializer.Serialize(result));
				return 0;
			}

			Type scriptType = Assembly.GetExecutingAssembly().GetTypes().Single(t => t.Name == "Script");
			object script = Activator.CreateInstance(scriptType);
			string exit = "completed";
			string reason = null;
			try
			{
				if (Convert.ToString(scenario["entry"]) == "api")
				{
					var api = (Dictionary<string, object>)scenario["api"];
					var input = new ApiTriggerInput
					{
						RequestMethod = (RequestMethod)Enum.Parse(typeof(RequestMethod), Convert.ToString(api["method"])),
						Route = "oceane/alarm-properties",
						RawBody = api.ContainsKey("body") ? (string)api["body"] : null,
						Parameters = new Dictionary<string, string>(),
					};
					MethodInfo method = scriptType.GetMethod("OnApiTrigger");
					var output = (ApiTriggerOutput)method.Invoke(script, new object[] { engine, input });
					result["api"] = new Dictionary<string, object> { { "code", output.ResponseCode }, { "body", output.ResponseBody } };
				}
				else
				{
					scriptType.GetMethod("Run").Invoke(script, new object[] { engine });
				}
			}
			catch (TargetInvocationException e)
			{
				var abort = e.InnerException as ScriptAbortException;
				if (abort == null)
				{
					exit = "crashed";
					reason = e.InnerException.ToString();
				}
				else
				{
					int colon = abort.Message.IndexOf(':');
					exit = abort.Message.Substring(0, colon);
					reason = abort.Message.Substring(colon + 1);
				}
			}

			result["exit"] = exit;
			result["reason"] = reason;
			result["properties"] = engine.Properties;
			result["outputs"] = engine.Outputs;
			result["logs"] = engine.Logs;
			result["dialogs"] = engine.Dialogs;
			Console.Out.Write(serializer.Serialize(result));
			return 0;
		}

		/// <summary>Asks a GQI data source for its columns, then pages until it says there are no more, as GQI does.</summary>
		private static Dictionary<string, object> RunGqi(string name)
		{
			Type type = Assembly.GetExecutingAssembly().GetTypes().Single(t =>
			{
				var meta = (GQIMetaDataAttribute)Attribute.GetCustomAttribute(t, typeof(GQIMetaDataAttribute));
				return meta != null && meta.Name == name;
			});
			var source = (IGQIDataSource)Activator.CreateInstance(type);
			var outcome = new Dictionary<string, object>();
			try
			{
				outcome["columns"] = source.GetColumns().Select(c => new object[] { c.Name, c.GetType().Name }).ToList();
				var rows = new List<object>();
				int pages = 0;
				while (true)
				{
					GQIPage page = source.GetNextPage(new GetNextPageInputArgs());
					pages++;
					rows.AddRange(page.Rows.Select(r => r.Cells.Select(c => c.Value is DateTime
						? ((DateTime)c.Value).ToString("o") + "|" + ((DateTime)c.Value).Kind
						: c.Value).ToList()));
					if (!page.HasNextPage || pages > 100)
					{
						break;
					}
				}

				outcome["rows"] = rows;
				outcome["pages"] = pages;
			}
			catch (Exception e)
			{
				outcome["error"] = e.GetType().Name + ": " + e.Message;
			}

			return outcome;
		}
	}
}
