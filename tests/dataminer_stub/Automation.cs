// A compile-only stub of the DataMiner Automation API surface the Oceane scripts in dataminer/scripts use.
// Signatures follow Skyline.DataMiner.Automation (SLManagedAutomation.dll) as Skyline publishes it in
// SkylineCommunications/dataminer-docs, src/DataMiner/SLManagedAutomation/ (IEngine.cs, Engine.cs,
// AutomationEntryPointAttribute.cs, AutomationEntryPointType.cs, ScriptAbortException.cs, the UI classes).
// Only members the scripts call are declared, so a script that calls something DataMiner lacks fails to
// compile here too; the bodies exist only so that tests/dataminer_stub/Harness.cs can run the scripts.
namespace Skyline.DataMiner.Automation
{
	using System;
	using System.Collections.Generic;

	/// <summary>The link with the SLAutomation process (the part of it the scripts use).</summary>
	public interface IEngine
	{
		/// <summary>Gets the login name of the user who runs the script.</summary>
		string UserLoginName { get; }

		/// <summary>Retrieves a script parameter by name.</summary>
		ScriptParam GetScriptParam(string name);

		/// <summary>
		/// Retrieves a script parameter by ID, or null when there is none: also the special parameters a Correlation
		/// rule passes, 65002 (Correlation State) and 65006 (Correlation Alarm Info) (IEngine.cs; user-guide
		/// Special_parameters_available_in_DMS_Automation_scripts.md).
		/// </summary>
		ScriptParam GetScriptParam(int id);

		/// <summary>Retrieves the element with this DataMiner Agent ID and element ID, or null when none (IEngine.cs).</summary>
		Element FindElement(int dmaID, int elementID);

		/// <summary>Sets an alarm property (the overload with the element ID, required with Swarming).</summary>
		void SetAlarmProperty(int dataMinerID, int elementID, int alarmID, string propertyName, string propertyValue);

		/// <summary>Shows a dialog box built with a UIBuilder.</summary>
		UIResults ShowUI(UIBuilder uiBuilder);

		/// <summary>Adds a key and value to the script output.</summary>
		void AddScriptOutput(string key, string value);

		/// <summary>Logs a message in the Automation log.</summary>
		void Log(string message);

		/// <summary>Aborts the script, failed.</summary>
		void ExitFail(string reason);
	}

	/// <summary>A script parameter.</summary>
	public class ScriptParam
	{
		/// <summary>Initializes a new instance of the <see cref="ScriptParam"/> class (DataMiner builds these; the harness too).</summary>
		public ScriptParam(int id, string description, string value)
		{
			ParameterId = id;
			Description = description;
			Value = value;
		}

		/// <summary>Gets the parameter ID.</summary>
		public int ParameterId { get; private set; }

		/// <summary>Gets the parameter name.</summary>
		public string Description { get; private set; }

		/// <summary>Gets the value.</summary>
		public string Value { get; private set; }
	}

	/// <summary>A DataMiner element (Element.cs: only the member the scripts read).</summary>
	public class Element
	{
		private readonly string elementName;

		/// <summary>Initializes a new instance of the <see cref="Element"/> class (for the test harness; DataMiner builds these).</summary>
		internal Element(string elementName)
		{
			this.elementName = elementName;
		}

		/// <summary>Gets the name of the element.</summary>
		public virtual string ElementName
		{
			get { return elementName; }
		}
	}

	/// <summary>Thrown by ExitFail to stop the script.</summary>
	public class ScriptAbortException : Exception
	{
		/// <summary>Initializes a new instance of the <see cref="ScriptAbortException"/> class.</summary>
		public ScriptAbortException(string message) : base(message)
		{
		}
	}

	/// <summary>The kinds of dialog box items.</summary>
	public enum UIBlockType
	{
		Undefined,
		Button,
		Calendar,
		CheckBox,
		CheckBoxList,
		DropDown,
		Executable,
		FileSelector,
		Numeric,
		Parameter,
		PasswordBox,
		RadioButtonList,
		StaticText,
		TextBox,
		Time,
		TreeView,
	}

	/// <summary>One item of a dialog box.</summary>
	public class UIBlockDefinition
	{
		private readonly List<string> dropDownOptions = new List<string>();

		/// <summary>Gets or sets the item type.</summary>
		public UIBlockType Type { get; set; }

		/// <summary>Gets or sets the text shown.</summary>
		public string Text { get; set; }

		/// <summary>Gets or sets the name the value is returned under.</summary>
		public string DestVar { get; set; }

		/// <summary>Gets or sets the initial value.</summary>
		public string InitialValue { get; set; }

		/// <summary>Gets or sets the grid row.</summary>
		public int Row { get; set; }

		/// <summary>Gets or sets the grid column.</summary>
		public int Column { get; set; }

		/// <summary>Gets or sets the number of columns spanned.</summary>
		public int ColumnSpan { get; set; }

		/// <summary>Gets or sets the width in pixels.</summary>
		public int Width { get; set; }

		/// <summary>Gets or sets the height in pixels.</summary>
		public int Height { get; set; }

		/// <summary>Gets or sets a value indicating whether a text box accepts several lines.</summary>
		public bool IsMultiline { get; set; }

		/// <summary>Gets or sets a value indicating whether the control is marked invalid while empty (10.0.5+).</summary>
		public bool IsRequired { get; set; }

		/// <summary>Adds an option to a drop-down list.</summary>
		public void AddDropDownOption(string option)
		{
			dropDownOptions.Add(option);
		}

		/// <summary>Gets the options added so far (for the test harness; not part of DataMiner's API).</summary>
		internal IList<string> StubOptions
		{
			get { return dropDownOptions; }
		}
	}

	/// <summary>A dialog box.</summary>
	public class UIBuilder
	{
		private readonly List<UIBlockDefinition> blocks = new List<UIBlockDefinition>();

		/// <summary>Gets or sets the title.</summary>
		public string Title { get; set; }

		/// <summary>Gets or sets the row definitions ("auto;auto;...").</summary>
		public string RowDefs { get; set; }

		/// <summary>Gets or sets the column definitions.</summary>
		public string ColumnDefs { get; set; }

		/// <summary>Gets or sets the width.</summary>
		public int Width { get; set; }

		/// <summary>Gets or sets a value indicating whether the dialog waits for the user.</summary>
		public bool RequireResponse { get; set; }

		/// <summary>Adds an item.</summary>
		public void AppendBlock(UIBlockDefinition uiBlockDefinition)
		{
			blocks.Add(uiBlockDefinition);
		}

		/// <summary>Gets the items (for the test harness; not part of DataMiner's API).</summary>
		public IList<UIBlockDefinition> StubBlocks
		{
			get { return blocks; }
		}
	}

	/// <summary>What the user entered in a dialog box.</summary>
	public class UIResults
	{
		private readonly Dictionary<string, string> values = new Dictionary<string, string>();
		private string pressed;

		/// <summary>Gets the value of a destination variable.</summary>
		public string GetString(string key)
		{
			string value;
			return values.TryGetValue(key, out value) ? value : string.Empty;
		}

		/// <summary>Returns whether the button with this destination variable was clicked.</summary>
		public bool WasButtonPressed(string key)
		{
			return pressed == key;
		}

		/// <summary>Fills in an answer (for the test harness; not part of DataMiner's API).</summary>
		public void StubSet(string key, string value)
		{
			values[key] = value;
		}

		/// <summary>Marks a button as clicked (for the test harness; not part of DataMiner's API).</summary>
		public void StubPress(string key)
		{
			pressed = key;
		}
	}

	/// <summary>Marks a method as a script entry point other than Run.</summary>
	[AttributeUsage(AttributeTargets.Method)]
	public sealed class AutomationEntryPointAttribute : Attribute
	{
		/// <summary>Initializes a new instance of the <see cref="AutomationEntryPointAttribute"/> class.</summary>
		public AutomationEntryPointAttribute(AutomationEntryPointType.Types type)
		{
			Type = type;
		}

		/// <summary>Gets the entry point type.</summary>
		public AutomationEntryPointType.Types Type { get; private set; }
	}

	/// <summary>Holds the entry point types (a sealed class in SLManagedAutomation).</summary>
	public sealed class AutomationEntryPointType
	{
		/// <summary>The entry point types.</summary>
		public enum Types
		{
			// OnApiTrigger is 11. SkylineCommunications/dataminer-docs, src/DataMiner/SLManagedAutomation/
			// AutomationEntryPointType.cs: the stored copy lists 0-10 and 13 and leaves 11 and 12 out; 11 is
			// OnApiTrigger as Skyline's User-Defined API scripts use it. The other members are not used here.
			OnApiTrigger = 11,
		}
	}
}

// ApiTriggerInput, ApiTriggerOutput, RequestMethod and StatusCode live in this namespace in DataMiner
// (SkylineCommunications/dataminer-docs, user-guide/Advanced_Modules/User-Defined_APIs/Defining_an_API/
// UD_APIs_Defining_a_new_API.md and the API reference under src/DataMiner/).
namespace Skyline.DataMiner.Net.Apps.UserDefinableApis.Actions
{
	using System.Collections.Generic;

	/// <summary>The HTTP method of a User-Defined API call.</summary>
	public enum RequestMethod
	{
		Get,
		Put,
		Post,
		Delete,
	}

	/// <summary>What DataMiner hands an OnApiTrigger entry point.</summary>
	public class ApiTriggerInput
	{
		/// <summary>Gets or sets the HTTP method.</summary>
		public RequestMethod RequestMethod { get; set; }

		/// <summary>Gets or sets the route (after /api/custom/).</summary>
		public string Route { get; set; }

		/// <summary>Gets or sets the request body as received.</summary>
		public string RawBody { get; set; }

		/// <summary>Gets or sets the body parsed as a flat JSON object (only with the Dictionary input type).</summary>
		public Dictionary<string, string> Parameters { get; set; }
	}

	/// <summary>What an OnApiTrigger entry point answers.</summary>
	public class ApiTriggerOutput
	{
		/// <summary>Gets or sets the HTTP status code.</summary>
		public int ResponseCode { get; set; }

		/// <summary>Gets or sets the response body.</summary>
		public string ResponseBody { get; set; }
	}

	/// <summary>Suggested HTTP status codes for ApiTriggerOutput.ResponseCode.</summary>
	public enum StatusCode
	{
		Ok = 200,
		Created = 201,
		Accepted = 202,
		NoContent = 204,
		BadRequest = 400,
		NotFound = 404,
		MethodNotAllowed = 405,
		InternalServerError = 500,
	}
}
